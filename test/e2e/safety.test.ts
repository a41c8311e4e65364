// The lifecycle changes that can break quorum, each watched by the invariant monitor (at most one
// voter down, no removal below quorum, no Pod deleted while still a member) with a writer
// inserting rows throughout; afterwards every node holds every acknowledged row. On the plane a
// cluster has: the roll's steps are evictions the disruption controller's budget admits. A lost
// and a partitioned Kubernetes node are in nodeFailure.test.ts.
import { strict as assert } from "node:assert";
import type { V1Pod, V1PodList } from "@kubernetes/client-node";
import { Informer } from "../../controller/runtime/informer.js";
import type { KubeClient } from "../../controller/runtime/kubeClient.js";
import type { LocalStack } from "../../local/stack.js";
import { LABEL_CLUSTER } from "../../shared/names.js";
import { eventually as eventuallyWithin } from "../../testenv/eventually.js";
import { eventMessages, isConverged, readCluster } from "./clusterStatus.js";
import { monitoredChange } from "./monitoredChange.js";
import { createRowsTable, rqliteNode, type AckedRow } from "./rows.js";
import { startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";

const eventually = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000) =>
  eventuallyWithin(what, check, timeoutMs, { intervalMs: 250 });

const RESYNC_S = 3;
const OLD = "rqlite/rqlite:8.36.0";
const NEW = "rqlite/rqlite:8.43.4";
const CLUSTER = "demo";
const voters = (n: number) => Array.from({ length: n }, (_, i) => `${CLUSTER}-${i}`);

describe("lifecycle changes never break quorum or lose an acknowledged row", function () {
  this.timeout(300_000);
  let env: ScheduledEnv;
  let stack: LocalStack;
  let client: KubeClient;
  let ns: string;
  const acked: AckedRow[] = [];
  const figures: Record<string, string> = {};

  const kubectl = (args: string[]) => stack.cp.kubectlOk([...args, "-n", ns]);
  const cluster = () => readCluster(stack.cp, ns, CLUSTER);
  const patchSpec = (spec: object) =>
    kubectl(["patch", "rqc", CLUSTER, "--type=merge", "-p", JSON.stringify({ spec })]);
  const converged = (n: number, timeoutMs = 120_000) =>
    eventually(`${n} ready members on the latest spec`, async () => isConverged(await cluster(), n), timeoutMs);
  const pods = async () =>
    (
      await client.request<V1PodList>({
        method: "GET",
        path: `/api/v1/namespaces/${ns}/pods`,
        query: { labelSelector: `${LABEL_CLUSTER}=${CLUSTER}` },
        timeoutMs: 5000,
      })
    ).items;
  /** The Raft configuration as the leader reports it. */
  const raftMembers = async () => {
    const leader = (await cluster()).status.leader!;
    return (await rqliteNode(ns, leader).nodes()).map((n) => n.id).sort();
  };
  const annotated = (key: string, value: string) => async () =>
    (await pods()).every((p) => p.metadata?.annotations?.[key] === value);
  const change = (
    name: string,
    opts: { allowance?: number; podsAfter?: string[] },
    run: Parameters<typeof monitoredChange>[1],
  ) =>
    monitoredChange(
      {
        name,
        client,
        namespace: ns,
        cluster: CLUSTER,
        allowance: opts.allowance ?? 0,
        acked,
        podsAfter: () => opts.podsAfter ?? voters(3),
        figures,
      },
      run,
    );
  const rollTemplate = (rev: string) => patchSpec({ podTemplate: { metadata: { annotations: { "e2e/rev": rev } } } });

  before(async () => {
    env = await startScheduledEnv({ prefix: "safety", controllerArgs: [`--resync-period=${RESYNC_S}`] });
    ({ stack, client, ns } = env);
    await env.applyCluster(CLUSTER, { replicas: 3, image: OLD });
    await converged(3);
    await createRowsTable(ns, (await cluster()).status.leader!);
  });

  after(async () => {
    await env?.stop();
    console.log(`      figures: ${JSON.stringify(figures, null, 2).replaceAll("\n", "\n      ")}`);
  });

  it("rolls a new rqlited version one voter at a time, the leader last", async () => {
    const leaderBefore = (await cluster()).status.leader!;
    const report = await change("roll", {}, async () => {
      await patchSpec({ image: NEW });
      await converged(3, 180_000);
      const versions = await Promise.all(voters(3).map(async (p) => (await rqliteNode(ns, p).status()).version));
      assert.deepEqual(versions, ["v8.43.4", "v8.43.4", "v8.43.4"]);
    });
    const order = [...new Set(report.wentDown.map((d) => d.name))];
    assert.equal(order.length, 3, `every voter rolled: ${order.join(", ")}`);
    assert.equal(order[2], leaderBefore, `followers first, the leader last: ${order.join(", ")}`);
  });

  it("scales 3→5→3, removing the highest ordinal first", async () => {
    const report = await change("scale 3→5→3", {}, async () => {
      await kubectl(["scale", "rqc", CLUSTER, "--replicas=5"]);
      await converged(5);
      assert.deepEqual(await raftMembers(), voters(5));
      await kubectl(["scale", "rqc", CLUSTER, "--replicas=3"]);
      await converged(3);
    });
    assert.deepEqual(await raftMembers(), voters(3), "removed nodes left the Raft configuration");
    // Both may leave within one 100 ms sample (remove, delete, remove is quick on loopback): the
    // monitor must not see them in the wrong order, and the operator's Events give the exact one.
    const left = (id: string) => report.removals.findIndex((r) => r.ids.includes(`${CLUSTER}-${id}`));
    assert.ok(left("4") >= 0 && left("3") >= left("4"), `highest ordinal first: ${JSON.stringify(report.removals)}`);
    const removed = (await eventMessages(stack.cp, ns, "RemovedFromRaft")).join("\n");
    assert.ok(
      removed.includes(`removed ${CLUSTER}-3 `) &&
        removed.indexOf(`removed ${CLUSTER}-4 `) < removed.indexOf(`removed ${CLUSTER}-3 `),
      `highest ordinal first: ${removed}`,
    );
  });

  it("scales down and rolls in one edit without overlapping the two", async () => {
    await kubectl(["scale", "rqc", CLUSTER, "--replicas=5"]);
    await converged(5);
    const report = await change("roll and scale-down in one edit", {}, async () => {
      await patchSpec({ replicas: 3, podTemplate: { metadata: { annotations: { "e2e/rev": "1" } } } });
      await converged(3, 180_000);
      assert.ok(await annotated("e2e/rev", "1")(), "every Pod carries the new template");
    });
    assert.deepEqual(await raftMembers(), voters(3));
    // No staying voter is rolled before the scale-down is done (I5): from the edit to the last
    // removal, over the whole change, not only between the first and the last removal (both may
    // land in one sample). A roll step seen in the same 100 ms sample as the last removal may have
    // come right after it (remove, delete and the next reconcile fit in one sample on loopback).
    const left = report.removals.flatMap((r) => r.ids).sort();
    assert.deepEqual(left, [`${CLUSTER}-3`, `${CLUSTER}-4`], "both removals seen by the monitor");
    const scaledDownAt = Math.max(...report.removals.map((r) => r.t));
    const rolls = report.wentDown.filter((d) => voters(3).includes(d.name));
    assert.deepEqual(
      rolls.filter((d) => d.t < scaledDownAt),
      [],
      `rolled before the last removal at ${scaledDownAt} ms`,
    );
    assert.deepEqual(
      [...new Set(rolls.map((d) => d.name))].sort(),
      voters(3),
      `every staying voter rolled after the scale-down: ${JSON.stringify(rolls)}`,
    );
  });

  it("finishes a roll when the rqlite leader is killed mid-way", async () => {
    const before = new Map((await pods()).map((p) => [p.metadata!.name!, p.metadata!.uid!]));
    await change("rqlite leader killed mid-roll", { allowance: 1 }, async (monitor) => {
      await rollTemplate("2");
      await eventually(
        "the roll's first Pod to go",
        async () => {
          const now = new Map((await pods()).map((p) => [p.metadata!.name!, p]));
          return [...before].some(
            ([name, uid]) => now.get(name)?.metadata?.uid !== uid || now.get(name)?.metadata?.deletionTimestamp,
          );
        },
        60_000,
      );
      const leader = await eventually(
        "a running leader to kill",
        () => {
          const current = monitor.leader();
          // Throws while its process is not running (e.g. the roll just replaced it): try again.
          if (current) stack.runtime.kill(ns, current);
          // No await between the kill and this, so no sample sees the kill undeclared.
          if (current) monitor.fault(current);
          return Promise.resolve(current);
        },
        30_000,
      );
      console.log(`      killed the rqlite leader ${leader}`);
      await converged(3, 180_000);
      assert.ok(await annotated("e2e/rev", "2")(), "every Pod carries the new template");
    });
  });

  it("finishes a scale-down with exactly the desired members when the controller leader dies mid-way", async () => {
    await kubectl(["scale", "rqc", CLUSTER, "--replicas=5"]);
    await converged(5);
    const leaderOf = async () => {
      for (const c of stack.controllers)
        if (
          c.proc.child.exitCode === null &&
          c.proc.child.signalCode === null &&
          (await c.isLeader().catch(() => false))
        )
          return c;
      return undefined;
    };
    const leading = await eventually("a leading controller", leaderOf);
    await change("controller leader killed mid scale-down", {}, async () => {
      // The whole scale-down can take less than a sample, so the kill follows the first step's
      // last act as a watch reports it: demo-4's Pod deleted, after its removal from Raft.
      const watch = new Informer<V1Pod>({
        client,
        apiVersion: "v1",
        resource: "pods",
        namespaces: [ns],
        labelSelector: `${LABEL_CLUSTER}=${CLUSTER}`,
      });
      const firstStepDone = new Promise<void>((resolve) =>
        watch.on("delete", (p) => {
          if (p.metadata?.name !== `${CLUSTER}-4`) return;
          leading.signal("SIGKILL");
          resolve();
        }),
      );
      watch.start();
      try {
        await watch.waitForSync();
        await kubectl(["scale", "rqc", CLUSTER, "--replicas=3"]);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          firstStepDone,
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`${CLUSTER}-4 was not deleted within 60 s`)), 60_000);
          }),
        ]).finally(() => clearTimeout(timer));
      } finally {
        await watch.stop();
      }
      const membersAtKill = await raftMembers();
      console.log(`      killed the controller leader; the leader then listed ${membersAtKill.join(", ")}`);
      await eventually("the standby to take over", async () => {
        const now = await leaderOf();
        return now !== undefined && now !== leading;
      });
      await converged(3);
    });
    assert.deepEqual(await raftMembers(), voters(3));
    assert.deepEqual((await pods()).map((p) => p.metadata!.name!).sort(), voters(3));
    // Two replicas again for what follows.
    await stack.addController("controller-2");
  });
});
