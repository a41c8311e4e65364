// The local runtime's pure parts for nodes and volumes: naming and zoning of the nodes, the
// status a healthy node reports, which folder a bound claim mounts, and the order of an
// expansion's writes (PV first, then the claim), as a CSI resizer and then a kubelet make them.
import { strict as assert } from "node:assert";
import type { V1PersistentVolume, V1PersistentVolumeClaim } from "@kubernetes/client-node";
import { defaultNodeSpecs, microTime, renderNode, renderNodeStatus } from "../../local/nodes.js";
import { boundFolder, resizeStep } from "../../local/volumes.js";

describe("local runtime nodes", () => {
  it("names N nodes node-a, node-b, ... and cycles them over three zones", () => {
    assert.deepEqual(defaultNodeSpecs(4), [
      { name: "node-a", zone: "zone-a" },
      { name: "node-b", zone: "zone-b" },
      { name: "node-c", zone: "zone-c" },
      { name: "node-d", zone: "zone-a" },
    ]);
    assert.deepEqual(defaultNodeSpecs(0), []);
    assert.throws(() => defaultNodeSpecs(-1), /nodes must be a whole number >= 0, got -1/);
  });

  it("labels a Node with its hostname and zone and reports it Ready with capacity", () => {
    const spec = { name: "node-b", zone: "zone-b" };
    const labels = renderNode(spec).metadata!.labels!;
    assert.equal(labels["kubernetes.io/hostname"], "node-b");
    assert.equal(labels["topology.kubernetes.io/zone"], "zone-b");
    const status = renderNodeStatus(spec, "2026-01-01T00:00:10Z", "2026-01-01T00:00:00Z") as {
      conditions: Array<{ type: string; status: string; lastHeartbeatTime: string; lastTransitionTime: string }>;
      allocatable: Record<string, string>;
    };
    const ready = status.conditions.find((c) => c.type === "Ready")!;
    assert.equal(ready.status, "True");
    assert.equal(ready.lastHeartbeatTime, "2026-01-01T00:00:10Z");
    assert.equal(ready.lastTransitionTime, "2026-01-01T00:00:00Z");
    assert.equal(status.allocatable.pods, "110");
  });

  it("writes Lease times with microseconds", () => {
    assert.equal(microTime(new Date("2026-01-01T00:00:00.123Z")), "2026-01-01T00:00:00.123000Z");
  });
});

describe("local runtime volumes", () => {
  const pvc = (over: { request?: string; capacity?: string; phase?: string } = {}): V1PersistentVolumeClaim => ({
    metadata: { namespace: "ns", name: "data", uid: "u1" },
    spec: { volumeName: "pv1", resources: { requests: { storage: over.request ?? "1Gi" } } },
    status: { phase: over.phase ?? "Bound", capacity: { storage: over.capacity ?? "1Gi" } },
  });
  const pv = (over: { capacity?: string; uid?: string; provisioner?: string } = {}): V1PersistentVolume => ({
    metadata: {
      name: "pv1",
      annotations: { "pv.kubernetes.io/provisioned-by": over.provisioner ?? "kubernetes.io/host-path" },
    },
    spec: {
      capacity: { storage: over.capacity ?? "1Gi" },
      claimRef: { uid: over.uid ?? "u1" },
      hostPath: { path: "/tmp/hostpath_pv/x" },
    },
  });

  it("mounts the bound PV's hostPath folder, and says what a Pod waits for otherwise", () => {
    assert.deepEqual(boundFolder(pvc(), pv()), { folder: "/tmp/hostpath_pv/x" });
    assert.deepEqual(boundFolder(pvc({ phase: "Pending" }), pv()), { waiting: "waiting for PVC ns/data to be bound" });
    assert.deepEqual(boundFolder(pvc(), undefined), { waiting: "waiting for PV pv1 of PVC ns/data" });
    assert.match(
      (boundFolder(pvc(), pv({ uid: "other" })) as { waiting: string }).waiting,
      /not bound to PVC ns\/data/,
    );
  });

  it("grows the PV first, then reports the claim's capacity, then rests", () => {
    assert.deepEqual(resizeStep(pvc({ request: "2Gi" }), pv()), { pvCapacity: "2Gi" });
    assert.deepEqual(resizeStep(pvc({ request: "2Gi" }), pv({ capacity: "2Gi" })), { pvcCapacity: "2Gi" });
    assert.equal(resizeStep(pvc({ request: "2Gi", capacity: "2Gi" }), pv({ capacity: "2Gi" })), undefined);
    // Quantities compare by value, not by text.
    assert.equal(resizeStep(pvc({ request: "1024Mi" }), pv()), undefined);
  });

  it("leaves alone claims it does not serve", () => {
    assert.equal(resizeStep(pvc({ request: "2Gi" }), pv({ provisioner: "ebs.csi.aws.com" })), undefined);
    assert.equal(resizeStep(pvc({ request: "2Gi" }), pv({ uid: "other" })), undefined);
    assert.equal(resizeStep(pvc({ request: "2Gi", phase: "Pending" }), pv()), undefined);
    assert.equal(resizeStep(pvc({ request: "2Gi" }), undefined), undefined);
  });
});
