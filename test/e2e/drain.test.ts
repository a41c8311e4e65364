// The PodDisruptionBudget met by `kubectl drain`: the disruption controller computes what it
// allows, the eviction API enforces it, and the operator brings each evicted voter back on
// another node before the next may go. Then a drain and a rolling update at once: the cluster
// never has more than one voter down. Each watched by the invariant monitor, with every
// acknowledged row on every node afterwards.
import { strict as assert } from "node:assert";
import { readFile, stat } from "node:fs/promises";
import type { V1PodDisruptionBudget } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { KubeClient, loadKubeConfig } from "../../controller/runtime/kubeClient.js";
import { startLocalStack, type LocalStack } from "../../local/stack.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";
import { eventMessages, isConverged, readCluster } from "./clusterStatus.js";
import { monitoredChange } from "./monitoredChange.js";
import { createRowsTable, type AckedRow } from "./rows.js";
import { eventsAbout, eventually, startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";

const CLUSTER = "pdb";
const VOTERS = ["pdb-0", "pdb-1", "pdb-2"];
const OPERATOR_SA = "system:serviceaccount:rqlite-operator-system:rqlite-operator-controller";

/**
 * The operator's evictions and deletions of Pods in `namespace` since `from` (a byte offset of
 * the audit log, which holds every request of its ServiceAccount), in order, with the answer.
 */
async function operatorPodWrites(auditLogPath: string, namespace: string, from: number) {
  return (await readFile(auditLogPath))
    .subarray(from)
    .toString("utf8")
    .split("\n")
    .filter(Boolean)
    .map(
      (line) =>
        JSON.parse(line) as {
          verb: string;
          user: { username: string };
          objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
          responseStatus?: { code?: number };
        },
    )
    .filter(
      (e) =>
        e.user.username === OPERATOR_SA &&
        e.objectRef?.resource === "pods" &&
        e.objectRef.namespace === namespace &&
        ((e.verb === "create" && e.objectRef.subresource === "eviction") ||
          (e.verb === "delete" && !e.objectRef.subresource)),
    )
    .map((e) => ({ evict: e.verb === "create", pod: e.objectRef!.name!, code: e.responseStatus?.code }));
}

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
  /** One eviction through the Eviction API, as `kubectl drain` asks for each Pod. */
  const evict = (pod: string) =>
    env.client.request({
      method: "POST",
      path: `/api/v1/namespaces/${env.ns}/pods/${pod}/eviction`,
      body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: pod, namespace: env.ns } },
      timeoutMs: 5000,
    });
  const rollTo = (rev: string) =>
    JSON.stringify({ spec: { podTemplate: { metadata: { annotations: { "e2e/rev": rev } } } } });
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

  it("a roll step waits while a drain holds the budget: the operator's eviction is refused, never forced", async () => {
    const leader = (await env.cluster(CLUSTER)).status.leader;
    const drained = VOTERS.filter((v) => v !== leader).pop()!;
    const auditFrom = (await stat(env.cp.auditLogPath)).size;
    let controllerManager: { resume(): Promise<void> } | undefined;
    let refused: Array<{ pod: string; code?: number }> = [];
    const report = await change("a roll while a drain holds the budget", async () => {
      try {
        // A drain's eviction takes the one disruption the budget allows. The disruption
        // controller then stops (as one that lags or is down), so the budget keeps allowing none
        // even once the voter is back: every eviction the roll asks for meets that budget.
        await evict(drained);
        controllerManager = await env.cp.pauseControllerManager();
        await env.kubectl(["patch", "rqc", CLUSTER, "--type=merge", "-p", rollTo("budget-held")]);
        refused = await eventually(
          "an operator eviction refused by the budget",
          async () => {
            const e = (await operatorPodWrites(env.cp.auditLogPath, env.ns, auditFrom)).filter((w) => w.evict);
            return e.some((w) => w.code === 429) ? e : undefined;
          },
          120_000,
        );
        // Refused, it waits: no voter that is up is deleted around the budget while the budget
        // holds. The drained voter is down already: its outdated, not yet Ready replacement may be
        // replaced again with the new template (a failed upgrade's rollback takes that path), which
        // takes nothing more down.
        await new Promise((r) => setTimeout(r, 5000));
        const writes = await operatorPodWrites(env.cp.auditLogPath, env.ns, auditFrom);
        assert.deepEqual(
          writes.filter((w) => (!w.evict || w.code === 201) && w.pod !== drained),
          [],
          "while the budget allows nothing, the operator neither evicts nor deletes a voter that is up",
        );
      } finally {
        await controllerManager?.resume();
      }
      await env.converged(CLUSTER, 3, 180_000);
    });
    figures["operator evictions refused while a drain held the budget"] = String(
      refused.filter((w) => w.code === 429).length,
    );
    assert.equal(report.maxVotersDown, 1, "the drained voter was the only one down");
    const waits = await eventMessages(env.cp, env.ns, "EvictionRefusedByBudget");
    console.log(`      ${waits.length} EvictionRefusedByBudget Events, the first: ${waits[0] ?? "none"}`);
    const pods = await env.pods(CLUSTER);
    assert.ok(
      pods.every((p) => p.metadata?.annotations?.["e2e/rev"] === "budget-held"),
      "the roll finished once the budget allowed it",
    );
  });

  it("never loses quorum while a drain and a rolling update run together", async () => {
    const [node] = await busiestNode();
    let out = "";
    const auditFrom = (await stat(env.cp.auditLogPath)).size;
    const report = await change(`drain ${node} during a roll`, async () => {
      await env.kubectl(["patch", "rqc", CLUSTER, "--type=merge", "-p", rollTo("1")]);
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
    assert.equal(report.maxVotersDown, 1, "at most one voter down while the drain and the roll ran together");
    // The roll's steps went through the Eviction API, so the budget serialized them with the
    // drain's evictions; a refusal (429) made the operator wait, never delete around it.
    const evictions = await eventually("the audit log shows the operator's evictions", async () => {
      const e = (await operatorPodWrites(env.cp.auditLogPath, env.ns, auditFrom)).filter((w) => w.evict);
      return e.some((x) => x.code === 201) ? e : undefined;
    });
    const admitted = evictions.filter((e) => e.code === 201).map((e) => e.pod);
    const refused = evictions.filter((e) => e.code === 429).map((e) => e.pod);
    figures["roll steps evicted by the operator"] = admitted.join(", ");
    figures["operator evictions the budget refused (then retried)"] = String(refused.length);
    console.log(`      operator evictions: admitted ${admitted.join(", ")}; refused ${refused.length}`);
    const events = await eventsAbout(env.cp, env.ns, "RqCluster", CLUSTER);
    assert.ok(
      events.some((e) => /RollingUpdate: .*evicted through the Eviction API/.test(e)),
      `a RollingUpdate Event says the step was an eviction: ${events.join("\n")}`,
    );
    assert.ok(
      !events.some((e) => /no disruption controller computes it/.test(e)),
      "with a disruption controller running, no roll step fell back to a delete",
    );
    await env.cp.kubectlOk(["uncordon", node]);
  });
});

// The shared plane runs no kube-controller-manager, so no disruption controller computes the
// PDB's status, and the API server refuses every eviction (429) for that reason. A roll must not
// hang there: each refused eviction falls back to a delete, which the plan's own gates (one voter
// at a time, quorum) make safe, and says why.
describe("a plane without a disruption controller: the roll's evictions fall back to deletes", function () {
  this.timeout(300_000);
  const CLUSTER_ND = "nodc";
  const voters = [`${CLUSTER_ND}-0`, `${CLUSTER_ND}-1`, `${CLUSTER_ND}-2`];
  let stack: LocalStack;
  let client: KubeClient;
  let ns: string;
  const acked: AckedRow[] = [];
  const figures: Record<string, string> = {};
  const cluster = () => readCluster(stack.cp, ns, CLUSTER_ND);
  const converged = () =>
    eventually("3 ready members on the latest spec", async () => isConverged(await cluster(), 3), 180_000);

  before(async () => {
    const cp = await sharedControlPlane();
    ns = await createTestNamespace(cp, "nodisruption");
    stack = await startLocalStack({
      controlPlane: cp,
      namespaces: [ns],
      controllerArgs: ["--resync-period=5", `--leader-election-id=rqlite-operator-${ns}`],
    });
    client = new KubeClient(loadKubeConfig(cp.kubeconfigPath), new Registry());
    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqCluster",
        metadata: { name: CLUSTER_ND },
        spec: { replicas: 3 },
      }),
    });
    await converged();
    await createRowsTable(ns, (await cluster()).status.leader!);
  });

  after(async () => {
    await stack?.stop();
    console.log(`      figures: ${JSON.stringify(figures, null, 2).replaceAll("\n", "\n      ")}`);
  });

  it("rolls one voter at a time: each eviction refused for the uncomputed budget, then a delete that says why", async () => {
    const auditFrom = (await stat(stack.cp.auditLogPath)).size;
    const report = await monitoredChange(
      {
        name: "roll without a disruption controller",
        client,
        namespace: ns,
        cluster: CLUSTER_ND,
        acked,
        podsAfter: () => voters,
        figures,
      },
      async () => {
        await stack.cp.kubectlOk([
          "patch",
          "rqc",
          CLUSTER_ND,
          "-n",
          ns,
          "--type=merge",
          "-p",
          JSON.stringify({ spec: { podTemplate: { metadata: { annotations: { "e2e/rev": "1" } } } } }),
        ]);
        await converged();
      },
    );
    assert.equal(report.maxVotersDown, 1, "one voter down at a time");
    const writes = await operatorPodWrites(stack.cp.auditLogPath, ns, auditFrom);
    console.log(
      `      operator Pod writes: ${writes.map((w) => `${w.evict ? "evict" : "delete"} ${w.pod} ${w.code}`).join(", ")}`,
    );
    const evicted = writes.filter((w) => w.evict);
    assert.ok(evicted.length >= 3, `every roll step tried an eviction first: ${JSON.stringify(writes)}`);
    assert.ok(
      evicted.every((w) => w.code === 429),
      `the budget, never computed, refused each: ${JSON.stringify(evicted)}`,
    );
    for (const v of voters) {
      const i = writes.findIndex((w) => w.evict && w.pod === v);
      assert.ok(
        i >= 0 && writes.slice(i + 1).some((w) => !w.evict && w.pod === v),
        `${v}: a delete after its refused eviction: ${JSON.stringify(writes)}`,
      );
    }
    const rolled = (await eventMessages(stack.cp, ns, "RollingUpdate")).join("\n");
    assert.match(
      rolled,
      /no PodDisruptionBudget here has a status after 30 s: no disruption controller .*deleted the Pod instead/,
    );
    // Waits only while no budget was old enough to tell (a budget just created says nothing).
    for (const w of await eventMessages(stack.cp, ns, "EvictionRefusedByBudget"))
      assert.match(w, /whether a disruption controller runs cannot be told/);
  });
});
