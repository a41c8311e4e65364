// Argo CD's health check of an RqCluster (deploy/argocd/rqcluster-health.lua), run by Argo CD's
// own Lua interpreter (gopher-lua, pinned in hack/tools/argocd-lua) on statuses the controller
// writes: Healthy only when Ready on the latest generation, Suspended while paused, Degraded
// where a person must act, Progressing otherwise.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { invalidSpecStatus } from "../../controller/rqcluster/status.js";
import { REPO_ROOT } from "../../hack/kustomize.js";
import { buildTools, run, type Tools } from "./support/tools.js";

const SCRIPT = join(REPO_ROOT, "deploy/argocd/rqcluster-health.lua");

type Condition = { type: string; status: "True" | "False"; reason: string; message: string };
const condition = (type: string, status: "True" | "False", reason: string, message = ""): Condition => ({
  type,
  status,
  reason,
  message,
});

describe("install: Argo CD health check of an RqCluster", function () {
  this.timeout(300_000);
  let tools: Tools;

  before(async () => {
    tools = await buildTools(["argocd-lua"]);
  });

  const health = async (obj: object) => {
    const r = await run(tools.bin("argocd-lua"), [SCRIPT], { input: JSON.stringify(obj) });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { status: string; message: string };
  };
  const cluster = (status: object | undefined, generation = 3, spec: object = {}) => ({
    apiVersion: "rqlite.io/v1alpha1",
    kind: "RqCluster",
    metadata: { name: "demo", generation },
    spec,
    ...(status ? { status } : {}),
  });
  const ready = condition("Ready", "True", "ClusterReady", "3 of 3 voters ready (quorum 2), leader demo-0");

  it("is Healthy when Ready on the latest generation", async () => {
    assert.deepEqual(await health(cluster({ observedGeneration: 3, phase: "Running", conditions: [ready] })), {
      status: "Healthy",
      message: ready.message,
    });
  });

  it("is Progressing before the operator reports, or while it has not acted on the latest spec", async () => {
    assert.equal((await health(cluster(undefined))).status, "Progressing");
    const stale = await health(cluster({ observedGeneration: 2, phase: "Running", conditions: [ready] }));
    assert.deepEqual(stale, { status: "Progressing", message: "waiting for the operator to act on the latest spec" });
    const rolling = await health(
      cluster({
        observedGeneration: 3,
        phase: "Upgrading",
        conditions: [
          condition("Ready", "False", "Upgrading", "a change is in progress: upgrading: 3/3 voters"),
          condition("Degraded", "False", "AllNodesReady"),
        ],
      }),
    );
    assert.deepEqual(rolling, {
      status: "Progressing",
      message: "Upgrading: a change is in progress: upgrading: 3/3 voters",
    });
  });

  it("is Suspended while paused", async () => {
    const paused = await health(
      cluster({ observedGeneration: 3, phase: "Paused", conditions: [] }, 3, { paused: true }),
    );
    assert.equal(paused.status, "Suspended");
  });

  it("is Degraded for a spec the controller refuses, a node down, or a failed restore", async () => {
    const refused = invalidSpecStatus({ generation: 3 }, "spec.image: Invalid value", undefined, new Date());
    assert.deepEqual(await health(cluster({ ...refused, observedGeneration: 3 })), {
      status: "Degraded",
      message: "InvalidSpec: spec.image: Invalid value",
    });
    const down = await health(
      cluster({
        observedGeneration: 3,
        phase: "Degraded",
        conditions: [
          condition("Ready", "False", "NodesNotReady", "2 of 3 nodes ready"),
          condition("Degraded", "True", "NodesNotReady", "2 of 3 nodes ready"),
        ],
      }),
    );
    assert.equal(down.status, "Degraded");
    const failed = await health(
      cluster({
        observedGeneration: 3,
        phase: "Failed",
        conditions: [condition("Ready", "False", "RestoreFailed", "the backup does not exist")],
      }),
    );
    assert.deepEqual(failed, { status: "Degraded", message: "RestoreFailed: the backup does not exist" });
  });
});
