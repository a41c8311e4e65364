// The manager's one shared cache per kind, counted where it matters: the watches the API server
// saw the operator's ServiceAccount open (its audit log), not the objects in the process.
import { strict as assert } from "node:assert";
import { readFile, stat } from "node:fs/promises";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { operatorKubeconfig, startController, type ControllerProcess } from "../../testenv/controller.js";
import { eventually } from "../../testenv/eventually.js";
import { sharedControlPlane } from "../../testenv/shared.js";

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

  it("opens one watch per kind for the whole process, though two controllers read RqClusters and RqBackups", async () => {
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
