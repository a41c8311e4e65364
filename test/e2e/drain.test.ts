// The PodDisruptionBudget met by `kubectl drain`: the disruption controller computes what it
// allows, the eviction API enforces it, and the operator brings each evicted voter back on
// another node before the next may go. Then a drain and a rolling update at once: the cluster
// never has more than one voter down. Each watched by the invariant monitor, with every
// acknowledged row on every node afterwards.
import { strict as assert } from "node:assert";
import type { V1PodDisruptionBudget } from "@kubernetes/client-node";
import { monitoredChange } from "./monitoredChange.js";
import { createRowsTable, type AckedRow } from "./rows.js";
import { eventually, startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";

const CLUSTER = "pdb";
const VOTERS = ["pdb-0", "pdb-1", "pdb-2"];

describe("PodDisruptionBudget: kubectl drain evicts at most what it allows", function () {
  this.timeout(300_000);
  let env: ScheduledEnv;
  const acked: AckedRow[] = [];
  const figures: Record<string, string> = {};

  const change = (name: string, run: () => Promise<void>) =>
    monitoredChange(
      { name, client: env.client, namespace: env.ns, cluster: CLUSTER, acked, podsAfter: () => VOTERS, figures },
      run,
    );
  const pdb = async () =>
    await env.client.request<V1PodDisruptionBudget>({
      method: "GET",
      path: `/apis/policy/v1/namespaces/${env.ns}/poddisruptionbudgets/${CLUSTER}`,
      timeoutMs: 5000,
    });
  /** The node holding the most of the cluster's voters. */
  const busiestNode = async () => {
    const count = new Map<string, number>();
    for (const node of Object.values(await env.placement(CLUSTER))) count.set(node, (count.get(node) ?? 0) + 1);
    return [...count].sort((a, b) => b[1] - a[1])[0]!;
  };
  const drain = (node: string) =>
    env.cp.kubectl(["drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=240s"], {
      timeoutMs: 250_000,
    });

  before(async () => {
    env = await startScheduledEnv({ prefix: "drain", nodes: 3, controllerArgs: ["--resync-period=5"] });
    // Two voters on one node, so that draining it meets the budget: with node-c cordoned, three
    // voters go on two nodes.
    await env.cp.kubectlOk(["cordon", "node-c"]);
    await env.applyCluster(CLUSTER, { replicas: 3, affinity: { podAntiAffinity: "Preferred" } });
    await env.converged(CLUSTER, 3);
    await env.cp.kubectlOk(["uncordon", "node-c"]);
    await createRowsTable(env.ns, (await env.cluster(CLUSTER)).status.leader!);
  });

  after(async () => {
    await env?.stop();
    console.log(`      figures: ${JSON.stringify(figures, null, 2).replaceAll("\n", "\n      ")}`);
  });

  it("the disruption controller computes the budget: one voter of three may go", async () => {
    const status = await eventually("the PDB's status from the disruption controller", async () => {
      const s = (await pdb()).status;
      return s?.observedGeneration !== undefined && s.expectedPods === 3 && s.currentHealthy === 3 ? s : undefined;
    });
    console.log(`      PDB ${CLUSTER}: ${JSON.stringify(status)}`);
    assert.equal(status.desiredHealthy, 2);
    assert.equal(status.disruptionsAllowed, 1);
  });

  it("drains a node with two voters one eviction at a time, each voter back elsewhere before the next goes", async () => {
    const [node, count] = await busiestNode();
    assert.equal(count, 2, `two voters share ${node}: ${JSON.stringify(await env.placement(CLUSTER))}`);
    let out = "";
    const report = await change(`drain ${node}`, async () => {
      const r = await drain(node);
      out = `${r.stdout}\n${r.stderr}`;
      assert.equal(r.code, 0, `kubectl drain ${node} failed: ${out}`);
      await env.converged(CLUSTER, 3);
    });
    console.log(`      kubectl drain ${node}:\n        ${out.trim().split("\n").join("\n        ")}`);
    assert.match(out, /would violate the pod's disruption budget/, "the second eviction waited for the budget");
    assert.equal(report.maxVotersDown, 1, "one voter down at a time");
    const placement = await env.placement(CLUSTER);
    assert.ok(
      !Object.values(placement).includes(node),
      `no voter left on the drained ${node}: ${JSON.stringify(placement)}`,
    );
    await env.cp.kubectlOk(["uncordon", node]);
  });

  it("never loses quorum while a drain and a rolling update run together", async () => {
    const [node] = await busiestNode();
    let out = "";
    await change(`drain ${node} during a roll`, async () => {
      await env.kubectl([
        "patch",
        "rqc",
        CLUSTER,
        "--type=merge",
        "-p",
        JSON.stringify({ spec: { podTemplate: { metadata: { annotations: { "e2e/rev": "1" } } } } }),
      ]);
      const r = await drain(node);
      out = `${r.stdout}\n${r.stderr}`;
      assert.equal(r.code, 0, `kubectl drain ${node} failed: ${out}`);
      await env.converged(CLUSTER, 3, 240_000);
    });
    console.log(`      kubectl drain ${node}:\n        ${out.trim().split("\n").join("\n        ")}`);
    const pods = await env.pods(CLUSTER);
    assert.ok(
      pods.every((p) => p.metadata?.annotations?.["e2e/rev"] === "1"),
      "every Pod carries the new template",
    );
    assert.ok(!pods.some((p) => p.spec?.nodeName === node), `no voter left on the drained ${node}`);
    await env.cp.kubectlOk(["uncordon", node]);
  });
});
