// A Kubernetes node lost for real: the local runtime stops being its kubelet, kube-controller-
// manager's node lifecycle controller marks it unreachable and taints it, and once
// --node-failure-timeout has passed the operator replaces the rqlite member that ran there (the
// leader cannot reach it either) on another node, with fresh storage. A node cut off from the API
// server whose rqlited still serves the leader is left alone. Both watched by the invariant
// monitor, with every acknowledged row on every node afterwards.
import { strict as assert } from "node:assert";
import { nodeReadyStatus, nodeTaints, UNREACHABLE_TAINT } from "../../testenv/nodeStatus.js";
import { eventMessages, isAvailable } from "./clusterStatus.js";
import { monitoredChange } from "./monitoredChange.js";
import { createRowsTable, type AckedRow } from "./rows.js";
import { eventually, startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";

const NODE_FAILURE_TIMEOUT_S = 10;
const CLUSTER = "nf";
const VOTERS = ["nf-0", "nf-1", "nf-2"];

describe("node failure: the node lifecycle controller and the operator", function () {
  this.timeout(300_000);
  let env: ScheduledEnv;
  const acked: AckedRow[] = [];
  const figures: Record<string, string> = {};

  const change = (name: string, allowance: number, run: Parameters<typeof monitoredChange>[1]) =>
    monitoredChange(
      {
        name,
        client: env.client,
        namespace: env.ns,
        cluster: CLUSTER,
        allowance,
        acked,
        podsAfter: () => VOTERS,
        figures,
      },
      run,
    );
  const pod = async (name: string) => (await env.pods(CLUSTER)).find((p) => p.metadata?.name === name);
  /** The follower with the highest ordinal, and the node it runs on. */
  const follower = async () => {
    const leader = (await env.cluster(CLUSTER)).status.leader;
    const victim = VOTERS.filter((v) => v !== leader).pop()!;
    const node = (await env.placement(CLUSTER))[victim]!;
    return { victim, node, uid: (await pod(victim))!.metadata!.uid! };
  };
  const unreachable = async (node: string) =>
    (await nodeReadyStatus(env.cp, node)) === "Unknown" &&
    (await nodeTaints(env.cp, node)).some((t) => t.key === UNREACHABLE_TAINT && t.effect === "NoExecute");
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

  before(async () => {
    // Four nodes for three voters with Required anti-affinity: a replacement has somewhere to go.
    env = await startScheduledEnv({
      prefix: "nodefail",
      nodes: 4,
      controllerArgs: [`--node-failure-timeout=${NODE_FAILURE_TIMEOUT_S}`, "--resync-period=5"],
    });
    await env.applyCluster(CLUSTER, { replicas: 3, affinity: { podAntiAffinity: "Required" } });
    await env.converged(CLUSTER, 3);
    await createRowsTable(env.ns, (await env.cluster(CLUSTER)).status.leader!);
  });

  after(async () => {
    await env?.stop();
    console.log(`      figures: ${JSON.stringify(figures, null, 2).replaceAll("\n", "\n      ")}`);
  });

  it("replaces the rqlite member of a stopped node after --node-failure-timeout, on another node", async () => {
    const { victim, node, uid } = await follower();
    const pvcUid = (await env.pvcs(CLUSTER)).find((p) => p.metadata?.name === victim)!.metadata!.uid!;
    const times: Record<string, number> = {};
    let stoppedAt = 0;
    await change(`node ${node} stops`, 1, async (monitor) => {
      monitor.fault(victim);
      stoppedAt = Date.now();
      await env.stack.runtime.stopNode(node);
      await eventually(`${node} to be marked unreachable and tainted`, () => unreachable(node), 90_000);
      times["marked unreachable and tainted"] = Date.now() - stoppedAt;
      const replacement = await eventually(
        `a replacement ${victim} on another node`,
        async () => {
          const p = await pod(victim);
          return p && p.metadata?.uid !== uid && p.spec?.nodeName && p.spec.nodeName !== node ? p : undefined;
        },
        120_000,
      );
      times[`replacement placed on ${replacement.spec!.nodeName}`] = Date.now() - stoppedAt;
      await env.converged(CLUSTER, 3);
      times["Available with 3 of 3 voters ready"] = Date.now() - stoppedAt;
    });
    const timeline = Object.entries(times)
      .map(([what, ms]) => `${what} after ${seconds(ms)}`)
      .join("; ");
    console.log(`      ${node} stopped: ${timeline}`);
    figures[`node ${node} stops (timeline)`] = timeline;
    const lost = await eventMessages(env.cp, env.ns, "NodeLost");
    assert.ok(
      lost.some((m) => m.startsWith("Warning: ") && m.includes(`replacing ${victim}: its Kubernetes node ${node}`)),
      `a NodeLost Warning names the Pod and the node: ${lost.join(" | ")}`,
    );
    const newPvc = (await env.pvcs(CLUSTER)).find((p) => p.metadata?.name === victim)!;
    assert.notEqual(newPvc.metadata?.uid, pvcUid, "the replacement starts on fresh storage");
    assert.equal(newPvc.status?.phase, "Bound");
    assert.ok(
      times["Available with 3 of 3 voters ready"]! >= NODE_FAILURE_TIMEOUT_S * 1000,
      "not replaced before the timeout",
    );

    await env.stack.runtime.restoreNode(node);
    await eventually(`${node} to be Ready again`, async () => (await nodeReadyStatus(env.cp, node)) === "True");
  });

  it("leaves a partitioned node alone while the rqlite leader still reaches its member", async () => {
    const { victim, node, uid } = await follower();
    await change(`node ${node} partitioned`, 0, async () => {
      const partitionedAt = Date.now();
      await env.stack.runtime.partitionNode(node);
      await eventually(`${node} to be marked unreachable and tainted`, () => unreachable(node), 90_000);
      const markedAt = Date.now();
      console.log(`      ${node} marked unreachable ${seconds(markedAt - partitionedAt)} after the partition`);
      // Well past the timeout, and two resyncs more.
      while (Date.now() - markedAt < (NODE_FAILURE_TIMEOUT_S + 10) * 1000) {
        const p = await pod(victim);
        assert.equal(p?.metadata?.uid, uid, `${victim} was replaced although its rqlite serves the leader`);
        assert.equal(p?.metadata?.deletionTimestamp, undefined, `${victim} is being deleted`);
        assert.ok(isAvailable((await env.cluster(CLUSTER)).status), "the cluster stays Available");
        await new Promise((r) => setTimeout(r, 500));
      }
      await eventually("a NodePartitioned Warning", async () =>
        (await eventMessages(env.cp, env.ns, "NodePartitioned")).some(
          (m) => m.startsWith("Warning: ") && m.includes(victim) && m.includes(node),
        ),
      );
      await env.stack.runtime.restoreNode(node);
      await eventually(`${node} to be Ready again`, async () => (await nodeReadyStatus(env.cp, node)) === "True");
      await env.converged(CLUSTER, 3);
    });
    assert.equal((await pod(victim))?.metadata?.uid, uid, `${victim} is the same Pod`);
    assert.equal((await env.placement(CLUSTER))[victim], node, `${victim} still runs on ${node}`);
  });
});
