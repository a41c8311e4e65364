// The manager's one shared cache per kind, counted where it matters: the watches the API server
// saw the operator's ServiceAccount open (its audit log), not the objects in the process.
import { strict as assert } from "node:assert";
import { readFile, stat } from "node:fs/promises";
import type { KubernetesObject, V1ConfigMap, V1Secret } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { Controller, watch } from "../../controller/runtime/controller.js";
import { KubeClient } from "../../controller/runtime/kubeClient.js";
import { Manager, type Kind } from "../../controller/runtime/manager.js";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { operatorKubeconfig, startController, type ControllerProcess } from "../../testenv/controller.js";
import { eventually } from "../../testenv/eventually.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";

const OPERATOR_SA = "system:serviceaccount:rqlite-operator-system:rqlite-operator-controller";

interface AuditEvent {
  auditID: string;
  verb: string;
  user: { username: string };
  objectRef?: { apiGroup?: string; resource?: string };
}

/** Watches opened by the operator since `from` (a byte offset of the audit log), by resource. */
async function watchesSince(cp: ControlPlane, from: number): Promise<Record<string, number>> {
  const seen = new Map<string, string>();
  const log = (await readFile(cp.auditLogPath)).subarray(from).toString("utf8");
  for (const line of log.split("\n").filter(Boolean)) {
    const e = JSON.parse(line) as AuditEvent;
    if (e.verb !== "watch" || e.user.username !== OPERATOR_SA || !e.objectRef?.resource) continue;
    // One request logs a stage per step (ResponseStarted, ResponseComplete): count it once.
    seen.set(e.auditID, `${e.objectRef.apiGroup ? `${e.objectRef.apiGroup}/` : ""}${e.objectRef.resource}`);
  }
  const counts: Record<string, number> = {};
  for (const resource of seen.values()) counts[resource] = (counts[resource] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

describe("controller manager: one shared cache per kind", function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let controller: ControllerProcess | undefined;

  before(async () => {
    cp = await sharedControlPlane();
  });

  after(async () => {
    await controller?.stop();
  });

  it("opens one watch per kind for the whole process, though three controllers read RqClusters and RqBackups", async () => {
    const kubeconfig = await operatorKubeconfig(cp);
    const from = await stat(cp.auditLogPath).then(
      (st) => st.size,
      () => 0,
    );
    controller = await startController({
      kubeconfig,
      logDir: cp.dir,
      name: "controller-watches",
      // Nodes are watched only when lost nodes are replaced; on here, so that every kind shows.
      args: ["--node-failure-timeout=60"],
    });
    const expected = [
      "batch/jobs",
      "networking.k8s.io/networkpolicies",
      "nodes",
      "persistentvolumeclaims",
      "pods",
      "policy/poddisruptionbudgets",
      "rqlite.io/rqbackups",
      "rqlite.io/rqclusters",
      "rqlite.io/rqscheduledbackups",
      "services",
    ];
    const counts = await eventually(
      "a watch of every cached kind",
      async () => {
        const c = await watchesSince(cp, from);
        return expected.every((r) => r in c) && c;
      },
      30_000,
    );
    // Each watch lives 5 to 10 minutes before it is renewed, so a second one now is a second cache.
    await new Promise((r) => setTimeout(r, 2000));
    const settled = await watchesSince(cp, from);
    console.log(`      watches opened, by resource: ${JSON.stringify(settled)}`);
    assert.deepEqual(Object.keys(counts), expected, "the operator watches exactly these kinds");
    assert.deepEqual(settled, Object.fromEntries(expected.map((r) => [r, 1])));
  });
});

describe("controller runtime: a kind declares for, owns and watches; the manager runs it", function () {
  this.timeout(120_000);
  const CONFIGMAP: Kind = { apiVersion: "v1", kind: "ConfigMap", resource: "configmaps" };
  const SECRET: Kind = { apiVersion: "v1", kind: "Secret", resource: "secrets" };
  let cp: ControlPlane;
  let ns: string;
  const stop = new AbortController();
  let running: Promise<unknown> | undefined;
  const reconciled: string[] = [];
  let mgr: Manager;

  before(async () => {
    cp = await sharedControlPlane();
    ns = await createTestNamespace(cp, "runtime");
    mgr = new Manager({
      client: KubeClient.load(new Registry(), cp.kubeconfigPath),
      registry: new Registry(),
      namespaces: [ns],
      cacheSyncTimeoutMs: 30_000,
      cacheFailureTimeoutMs: 30_000,
    });
    const configMaps = mgr.cache<V1ConfigMap>(CONFIGMAP);
    const secrets = mgr.cache<V1Secret>(SECRET);
    for (const name of ["first", "second"]) {
      mgr.add(
        new Controller<V1ConfigMap>(mgr, {
          name,
          for: configMaps,
          owns: name === "first" ? [secrets] : [],
          // "second" hears of a Secret through a mapping: the ConfigMap its label names.
          watches:
            name === "second"
              ? [watch(secrets, (e) => (e.obj.metadata?.labels?.wakes ? [`${ns}/${e.obj.metadata.labels.wakes}`] : []))]
              : [],
          workers: 1,
          reconcile: (cm) => {
            reconciled.push(`${name}:${cm.metadata!.name}:${cm.data?.v ?? ""}`);
            return Promise.resolve(undefined);
          },
        }),
      );
    }
    assert.equal(mgr.cache(CONFIGMAP), configMaps, "a second ask for a kind gets the same cache");
    assert.throws(() => mgr.cache(SECRET, { labelSelector: "a=b" }), /one cache per kind/);
    running = mgr.start(stop.signal);
    await eventually("ready", () => mgr.ready(), 30_000);
  });

  after(async () => {
    stop.abort();
    await running;
  });

  const apply = (obj: KubernetesObject & Record<string, unknown>) =>
    cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify(obj) });
  const has = (entry: string) => eventually(entry, () => reconciled.includes(entry), 20_000);

  it("reconciles the for kind in every controller that declares it", async () => {
    await apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", namespace: ns }, data: { v: "1" } });
    await has("first:a:1");
    await has("second:a:1");
  });

  it("owns: a change to an owned object reconciles its controller owner", async () => {
    const cm = JSON.parse(await cp.kubectlOk(["get", "configmap", "a", "-n", ns, "-o", "json"])) as V1ConfigMap;
    const before = reconciled.length;
    await apply({
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: "owned",
        namespace: ns,
        ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "a", uid: cm.metadata!.uid!, controller: true }],
      },
      stringData: { k: "v" },
    });
    await eventually("first reconciles a again", () => reconciled.slice(before).includes("first:a:1"), 20_000);
    assert.ok(!reconciled.slice(before).includes("second:a:1"), "second owns no Secrets");
  });

  it("watches: a mapping names the objects another kind's change concerns", async () => {
    await apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "b", namespace: ns }, data: { v: "2" } });
    await has("second:b:2");
    const before = reconciled.length;
    await apply({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "mapped", namespace: ns, labels: { wakes: "b" } },
      stringData: { k: "v" },
    });
    await eventually("second reconciles b again", () => reconciled.slice(before).includes("second:b:2"), 20_000);
    assert.ok(!reconciled.slice(before).includes("first:b:2"), "the Secret has no owner for first");
  });
});
