// The control plane that schedules (kube-scheduler, kube-controller-manager, StorageClasses) and
// the local runtime as the kubelet of three zoned Nodes, checked against the real parts: the
// scheduler places Pods or says why not, the PV controller binds claims through the host-path
// provisioner, the node lifecycle controller judges the runtime's heartbeats, and the API server
// decides which claims may grow.
import { strict as assert } from "node:assert";
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { V1PersistentVolume, V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { KubeClient, loadKubeConfig } from "../../controller/runtime/kubeClient.js";
import { LocalRuntime } from "../../local/runtime.js";
import { loopbackAddress } from "../../shared/loopback-address.js";
import { LABEL_MANAGED_BY, MANAGER_NAME } from "../../shared/names.js";
import { buildBinaries, cacheAssetsDir, RQLITED_TOOLS } from "../../testenv/assets.js";
import { CONTROLLERS } from "../../testenv/controllerManager.js";
import { startControlPlane, type ControlPlane } from "../../testenv/controlplane.js";
import { eventually as eventuallyWithin } from "../../testenv/eventually.js";
import { hasTaint, readyIs, UNREACHABLE_TAINT, waitForNode } from "../../testenv/nodeStatus.js";
import { isAlive, spawnTsx } from "../../testenv/processes.js";
import { createTestNamespace } from "../../testenv/shared.js";
import { EXPANDABLE_STORAGE_CLASS, FIXED_STORAGE_CLASS } from "../../testenv/storageClasses.js";

const eventually = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000) =>
  eventuallyWithin(what, check, timeoutMs, { intervalMs: 250 });

describe("control plane with scheduler, controller-manager and the runtime's nodes", function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let runtime: LocalRuntime;
  let ns: string;
  const get = async <T>(args: string[]) => JSON.parse(await cp.kubectlOk([...args, "-o", "json"])) as T;
  const pod = (name: string) => get<V1Pod>(["get", "pod", name, "-n", ns]);
  const pvc = (name: string) => get<V1PersistentVolumeClaim>(["get", "pvc", name, "-n", ns]);

  /** Answers rqlited's /status within a second: false for a frozen or stopped process. */
  const serves = async (podName: string) => {
    try {
      const res = await fetch(`http://${loopbackAddress(ns, podName)}:4001/status`, {
        signal: AbortSignal.timeout(1000),
      });
      return res.ok;
    } catch {
      return false;
    }
  };

  const createClaim = (name: string, storageClassName?: string) =>
    cp.kubectlOk(["create", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: { name },
        spec: {
          accessModes: ["ReadWriteOnce"],
          resources: { requests: { storage: "1Gi" } },
          ...(storageClassName ? { storageClassName } : {}),
        },
      }),
    });

  /** A single-node rqlited Pod, as the operator renders one in loopback addressing. */
  const createRqlitePod = (name: string, claim: string, spec: object = {}) => {
    const self = loopbackAddress(ns, name);
    return cp.kubectlOk(["create", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, labels: { [LABEL_MANAGED_BY]: MANAGER_NAME } },
        spec: {
          terminationGracePeriodSeconds: 10,
          containers: [
            {
              name: "rqlite",
              image: "rqlite/rqlite:8.43.4",
              args: [`-node-id=${name}`, `-http-addr=${self}:4001`, `-raft-addr=${self}:4002`, "/rqlite/file/data"],
              readinessProbe: { httpGet: { path: "/readyz", port: 4001 } },
              resources: { requests: { cpu: "100m", memory: "64Mi" } },
            },
          ],
          volumes: [{ name: "data", persistentVolumeClaim: { claimName: claim } }],
          ...spec,
        },
      }),
    });
  };

  const runningReady = (name: string) =>
    eventually(`Pod ${name} Running and Ready`, async () => {
      const p = await pod(name);
      return (
        p.status?.phase === "Running" &&
        p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") &&
        p
      );
    });

  before(async function () {
    this.timeout(600_000);
    await buildBinaries(RQLITED_TOOLS, { ...process.env, TESTENV_QUIET: "1" });
    cp = await startControlPlane({ scheduling: true });
    ns = await createTestNamespace(cp, "nodes");
    runtime = new LocalRuntime({
      client: new KubeClient(loadKubeConfig(cp.kubeconfigPath), new Registry()),
      binDir: cacheAssetsDir(),
      stateDir: join(cp.dir, "runtime"),
      namespaces: [ns],
      nodes: 3,
    });
    await runtime.start();
  });

  // A test that fails with a node stopped or partitioned must not fail the ones after it.
  afterEach(async () => {
    for (const node of runtime?.nodeNames() ?? [])
      if (runtime.nodeState(node) !== "running") await runtime.restoreNode(node);
  });

  after(async () => {
    await runtime?.stop();
    await cp?.stop();
  });

  it("starts kube-scheduler and kube-controller-manager with the plane, and the StorageClasses", async () => {
    console.log(
      `      control plane with scheduler and controller-manager started in ${(cp.startupMs / 1000).toFixed(1)} s`,
    );
    assert.equal(cp.scheduling, true);
    assert.equal(cp.pids.length, 4, "etcd, kube-apiserver, kube-scheduler, kube-controller-manager");
    // Each controller acts as its own ServiceAccount, which kube-controller-manager creates.
    const sas = await get<{ items: Array<{ metadata: { name: string } }> }>(["get", "sa", "-n", "kube-system"]);
    for (const sa of [
      "generic-garbage-collector",
      "node-controller",
      "persistent-volume-binder",
      "disruption-controller",
    ])
      assert.ok(
        sas.items.some((s) => s.metadata.name === sa),
        `ServiceAccount kube-system/${sa} (controllers: ${CONTROLLERS.join(", ")})`,
      );
    const classes = await get<{
      items: Array<{
        metadata: { name: string; annotations?: Record<string, string> };
        allowVolumeExpansion?: boolean;
      }>;
    }>(["get", "storageclass"]);
    const byName = new Map(classes.items.map((c) => [c.metadata.name, c]));
    assert.equal(byName.get(EXPANDABLE_STORAGE_CLASS)?.allowVolumeExpansion, true);
    assert.equal(
      byName.get(EXPANDABLE_STORAGE_CLASS)?.metadata.annotations?.["storageclass.kubernetes.io/is-default-class"],
      "true",
    );
    assert.ok(byName.has(FIXED_STORAGE_CLASS));
    assert.notEqual(byName.get(FIXED_STORAGE_CLASS)?.allowVolumeExpansion, true);
  });

  it("registers three zoned Nodes that are Ready, each with a Lease it renews", async () => {
    assert.deepEqual(runtime.nodeNames(), ["node-a", "node-b", "node-c"]);
    for (const [name, zone] of [
      ["node-a", "zone-a"],
      ["node-b", "zone-b"],
      ["node-c", "zone-c"],
    ] as const) {
      const node = await waitForNode(cp, name, "Ready", readyIs("True"), 30_000);
      assert.equal(node.metadata?.labels?.["kubernetes.io/hostname"], name);
      assert.equal(node.metadata?.labels?.["topology.kubernetes.io/zone"], zone);
      assert.equal(node.status?.allocatable?.pods, "110");
    }
    const renewTime = async () =>
      (await get<{ spec: { renewTime: string } }>(["get", "lease", "node-a", "-n", "kube-node-lease"])).spec.renewTime;
    const first = await renewTime();
    await eventually("the Lease of node-a to be renewed", async () => (await renewTime()) !== first, 20_000);
  });

  it("schedules a Pod with a PVC to a node, binds the PVC and runs rqlited with its data in the PV's folder", async () => {
    await createClaim("data-solo");
    await createRqlitePod("solo", "data-solo");
    const p = await runningReady("solo");
    assert.ok(runtime.nodeNames().includes(p.spec!.nodeName!), `scheduled to ${p.spec?.nodeName}`);
    assert.equal(runtime.nodeOf(ns, "solo"), p.spec!.nodeName);
    const claim = await pvc("data-solo");
    assert.equal(claim.status?.phase, "Bound");
    assert.equal(claim.spec?.storageClassName, EXPANDABLE_STORAGE_CLASS, "the default class");
    const pv = await get<V1PersistentVolume>(["get", "pv", claim.spec.volumeName!]);
    const folder = pv.spec!.hostPath!.path;
    assert.match(folder, /^\/tmp\/hostpath_pv\//);
    assert.ok(
      existsSync(join(folder, "data")),
      `rqlited's data folder in ${folder}: ${readdirSync(folder).join(", ")}`,
    );
    assert.ok(await serves("solo"));
  });

  it("leaves a Pod that fits no node Pending, with the scheduler's reason", async () => {
    await cp.kubectlOk(["create", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "nowhere", labels: { [LABEL_MANAGED_BY]: MANAGER_NAME } },
        spec: {
          nodeSelector: { "topology.kubernetes.io/zone": "zone-z" },
          containers: [{ name: "rqlite", image: "rqlite/rqlite:8.43.4" }],
        },
      }),
    });
    const scheduled = await eventually("the scheduler to judge Pod nowhere", async () =>
      (await pod("nowhere")).status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False"),
    );
    assert.equal(scheduled.reason, "Unschedulable");
    assert.match(
      scheduled.message ?? "",
      /0\/3 nodes are available: 3 node\(s\) didn't match Pod's node affinity\/selector/,
    );
    const p = await pod("nowhere");
    assert.equal(p.status?.phase, "Pending");
    assert.equal(p.spec?.nodeName, undefined);
    await cp.kubectlOk(["delete", "pod", "nowhere", "-n", ns, "--wait=true"]);
  });

  it("stop freezes the node's rqlited and the node lifecycle controller marks it unreachable; restore undoes both", async () => {
    const node = runtime.nodeOf(ns, "solo")!;
    const stoppedAt = Date.now();
    await runtime.stopNode(node);
    assert.equal(runtime.nodeState(node), "stopped");
    assert.equal(await serves("solo"), false, "a frozen rqlited does not answer");
    await waitForNode(cp, node, "Ready Unknown", readyIs("Unknown"));
    await waitForNode(cp, node, `tainted ${UNREACHABLE_TAINT}`, hasTaint(UNREACHABLE_TAINT, "NoExecute"));
    console.log(
      `      ${node} unreachable and tainted ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s after the stop`,
    );
    // The controller, not the runtime, marks the node's Pods not ready.
    await eventually("Pod solo marked not Ready", async () =>
      (await pod("solo")).status?.conditions?.some((c) => c.type === "Ready" && c.status === "False"),
    );

    await runtime.restoreNode(node);
    await waitForNode(cp, node, "Ready again, untainted", (n) => readyIs("True")(n) && !hasTaint(UNREACHABLE_TAINT)(n));
    assert.ok(await serves("solo"));
    await runningReady("solo");
  });

  it("stop with kill ends the node's rqlited; restore starts it again on the same data", async () => {
    const node = runtime.nodeOf(ns, "solo")!;
    const before = (await pod("solo")).status?.containerStatuses?.[0]?.restartCount ?? 0;
    const base = `http://${loopbackAddress(ns, "solo")}:4001`;
    const written = await fetch(`${base}/db/execute`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(["CREATE TABLE t (v TEXT)", "INSERT INTO t(v) VALUES('kept')"]),
    });
    assert.equal(written.status, 200);
    await runtime.stopNode(node, { processes: "kill" });
    assert.equal(await serves("solo"), false);
    await waitForNode(cp, node, "Ready Unknown", readyIs("Unknown"));
    await runtime.restoreNode(node);
    await waitForNode(cp, node, "Ready again", readyIs("True"));
    await eventually("rqlited of solo serving again", () => serves("solo"));
    const p = await runningReady("solo");
    assert.equal(p.status?.containerStatuses?.[0]?.restartCount, before, "a node's restart is not a crash");
    const read = (await (await fetch(`${base}/db/query?level=strong&q=SELECT+v+FROM+t`)).json()) as {
      results: Array<{ values?: unknown[][] }>;
    };
    assert.deepEqual(read.results[0]?.values, [["kept"]], "the row written before the stop, from the PV's folder");
  });

  it("partition stops the heartbeats but not rqlited; restore brings the node back", async () => {
    const node = runtime.nodeOf(ns, "solo")!;
    await runtime.partitionNode(node);
    assert.equal(runtime.nodeState(node), "partitioned");
    await waitForNode(
      cp,
      node,
      `tainted ${UNREACHABLE_TAINT}`,
      (n) => readyIs("Unknown")(n) && hasTaint(UNREACHABLE_TAINT)(n),
    );
    assert.ok(await serves("solo"), "a partitioned node's rqlited keeps serving");
    await runtime.restoreNode(node);
    await waitForNode(cp, node, "Ready again, untainted", (n) => readyIs("True")(n) && !hasTaint(UNREACHABLE_TAINT)(n));
    await runningReady("solo");
  });

  it("runs a Pod that replaces a force-deleted namesake on a stopped node elsewhere, on the same claim", async () => {
    const node = runtime.nodeOf(ns, "solo")!;
    await runtime.stopNode(node);
    await waitForNode(cp, node, `tainted ${UNREACHABLE_TAINT}`, hasTaint(UNREACHABLE_TAINT, "NoSchedule"));
    // What an operator does for a member on a lost node: the kubelet cannot finish a deletion.
    await cp.kubectlOk(["delete", "pod", "solo", "-n", ns, "--force", "--grace-period=0"]);
    await createRqlitePod("solo", "data-solo");
    const p = await runningReady("solo");
    assert.notEqual(p.spec?.nodeName, node, "the scheduler avoids the unreachable node");
    assert.equal(runtime.nodeOf(ns, "solo"), p.spec?.nodeName);
    const read = (await (
      await fetch(`http://${loopbackAddress(ns, "solo")}:4001/db/query?level=strong&q=SELECT+v+FROM+t`)
    ).json()) as { results: Array<{ values?: unknown[][] }> };
    assert.deepEqual(read.results[0]?.values, [["kept"]]);
    await runtime.restoreNode(node);
    await waitForNode(cp, node, "Ready again", readyIs("True"));
    assert.equal(runtime.nodeOf(ns, "solo"), p.spec?.nodeName, "the restored node leaves the new Pod alone");
    await runningReady("solo");
  });

  it("grows a claim of the expandable class through the runtime's resizer; the API server refuses the fixed class", async () => {
    await createClaim("grows");
    await createClaim("fixed", FIXED_STORAGE_CLASS);
    await eventually(
      "both claims Bound",
      async () => (await pvc("grows")).status?.phase === "Bound" && (await pvc("fixed")).status?.phase === "Bound",
    );
    const grow = (name: string) =>
      cp.kubectl([
        "patch",
        "pvc",
        name,
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}',
      ]);
    const ok = await grow("grows");
    assert.equal(ok.code, 0, ok.stderr);
    const grown = await eventually("PVC grows to report 2Gi", async () => {
      const c = await pvc("grows");
      return c.status?.capacity?.storage === "2Gi" && c;
    });
    const pv = await get<V1PersistentVolume>(["get", "pv", grown.spec!.volumeName!]);
    assert.equal(pv.spec?.capacity?.storage, "2Gi");

    const refused = await grow("fixed");
    assert.notEqual(refused.code, 0);
    assert.match(
      refused.stderr,
      /only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize/,
    );
    assert.equal((await pvc("fixed")).spec?.resources?.requests?.storage, "1Gi");
  });

  it("finishes a graceful deletion: stops rqlited, then deletes the Pod; the claim's PV folder goes with the claim", async () => {
    const claim = await pvc("data-solo");
    const folder = (await get<V1PersistentVolume>(["get", "pv", claim.spec!.volumeName!])).spec!.hostPath!.path;
    const pids = cp.pids;
    await cp.kubectlOk(["delete", "pod", "solo", "-n", ns, "--wait=true", "--timeout=60s"], { timeoutMs: 70_000 });
    assert.equal(runtime.nodeOf(ns, "solo"), undefined);
    assert.equal(await serves("solo"), false);
    assert.ok(pids.every(isAlive), "the plane's processes are untouched");
    await cp.kubectlOk(["delete", "pvc", "data-solo", "-n", ns, "--wait=true", "--timeout=60s"], { timeoutMs: 70_000 });
    await eventually("the PV controller to remove the folder (reclaim policy Delete)", () =>
      Promise.resolve(!existsSync(folder)),
    );
  });
});

describe("control plane with scheduler and controller-manager: nothing outlives its owner", function () {
  this.timeout(120_000);
  const root = fileURLToPath(new URL("../..", import.meta.url));

  it("ends the scheduler and controller-manager and removes the PV folders when its owner is SIGKILLed", async () => {
    const scratch = await mkdtemp(join(tmpdir(), "rqo-nodes-kill-"));
    const script = join(scratch, "owner.mts");
    // A process that owns a scheduling plane with one bound claim, then waits to be killed.
    await writeFile(
      script,
      `import { startControlPlane } from ${JSON.stringify(join(root, "testenv/controlplane.ts"))};
const cp = await startControlPlane({ scheduling: true });
await cp.kubectlOk(["create", "-n", "default", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name: "c" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } }) });
await cp.kubectlOk(["wait", "-n", "default", "pvc/c", "--for=jsonpath={.status.phase}=Bound", "--timeout=60s"], { timeoutMs: 70_000 });
const pv = (await cp.kubectlOk(["get", "pv", "-o", "jsonpath={.items[0].spec.hostPath.path}"])).trim();
console.log("pids " + cp.pids.join(" ") + " dir " + cp.dir + " pv " + pv);
setInterval(() => {}, 1 << 30);
`,
    );
    const owner = spawnTsx(script, root);
    const { child, exited } = owner;
    try {
      await eventually("the owner to print its pids", () =>
        Promise.resolve(/pids [\d ]+ dir \S+ pv \S+/.test(owner.out)),
      );
      const out = owner.out;
      const [, pidList, dir, pv] = /pids ([\d ]+) dir (\S+) pv (\S+)/.exec(out)!;
      const pids = pidList!.trim().split(" ").map(Number);
      assert.equal(pids.length, 4, out);
      assert.ok(pids.every(isAlive) && existsSync(dir!) && existsSync(pv!), out);
      child.kill("SIGKILL");
      await exited;
      await eventually("every process to exit", () => Promise.resolve(pids.every((p) => !isAlive(p))));
      await eventually("the plane's folder and the PV folder to be removed", () =>
        Promise.resolve(!existsSync(dir!) && !existsSync(pv!)),
      );
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
