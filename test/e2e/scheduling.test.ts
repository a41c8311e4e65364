// Anti-affinity and spreading as kube-scheduler applies them to the Pods the operator renders,
// on four zoned Nodes run by the local runtime: Required puts each voter on its own node, a voter
// more than there are nodes stays Pending and the cluster says why, Preferred still places it,
// and a zone topologyKey spreads the voters across zones. Every change is watched by the
// invariant monitor, and every acknowledged row is on every node afterwards.
import { strict as assert } from "node:assert";
import type { V1Pod } from "@kubernetes/client-node";
import { EXPANDABLE_STORAGE_CLASS } from "../../testenv/storageClasses.js";
import { eventMessages } from "./clusterStatus.js";
import { monitoredChange } from "./monitoredChange.js";
import { createRowsTable, type AckedRow } from "./rows.js";
import { eventually, eventsAbout, startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";

const ZONE = "topology.kubernetes.io/zone";
const names = (cluster: string, n: number) => Array.from({ length: n }, (_, i) => `${cluster}-${i}`);
const scheduledCondition = (pod: V1Pod | undefined) => pod?.status?.conditions?.find((c) => c.type === "PodScheduled");

describe("scheduling: anti-affinity and spreading placed by kube-scheduler", function () {
  this.timeout(300_000);
  let env: ScheduledEnv;
  const figures: Record<string, string> = {};
  const acked = new Map<string, AckedRow[]>();

  const change = (cluster: string, name: string, podsAfter: string[], run: () => Promise<void>) => {
    if (!acked.has(cluster)) acked.set(cluster, []);
    return monitoredChange(
      {
        name,
        client: env.client,
        namespace: env.ns,
        cluster,
        acked: acked.get(cluster)!,
        podsAfter: () => podsAfter,
        figures,
      },
      run,
    );
  };
  const progressing = async (cluster: string) =>
    (await env.cluster(cluster)).status.conditions?.find((c) => c.type === "Progressing") as
      { status: string; reason?: string; message?: string } | undefined;
  /** The Pod stays Pending with the scheduler's reason, and the cluster repeats it. */
  const assertUnschedulable = async (cluster: string, pod: string) => {
    // The first verdict may be about its volume, still being provisioned ("unbound immediate
    // PersistentVolumeClaims"); the one that lasts names the anti-affinity rule.
    const condition = await eventually(`${pod} to be judged unschedulable by anti-affinity`, async () => {
      const c = scheduledCondition((await env.pods(cluster)).find((p) => p.metadata?.name === pod));
      return c?.status === "False" && c.reason === "Unschedulable" && /anti-affinity/.test(c.message ?? "")
        ? c
        : undefined;
    });
    console.log(`      the scheduler on ${pod}: ${condition.message}`);
    const cond = await eventually(`${cluster}'s Progressing condition to say ${pod} is unschedulable`, async () => {
      const p = await progressing(cluster);
      return p?.reason === "Unschedulable" && p.message?.includes(pod) ? p : undefined;
    });
    console.log(`      ${cluster} Progressing=${cond.status} ${cond.reason}: ${cond.message}`);
    assert.equal(cond.status, "False");
    // The scheduler words it differently from one attempt to the next ("didn't match pod
    // anti-affinity rules", "didn't satisfy existing pods anti-affinity rules"): its gist must be there.
    const schedulers = new RegExp(`^Pod ${pod} cannot be scheduled: 0/\\d+ nodes are available: .*anti-affinity`);
    assert.match(cond.message!, schedulers, "the status carries the scheduler's own message");
    const warning = await eventually(`a Warning Event on ${cluster} naming ${pod}`, async () =>
      (await eventMessages(env.cp, env.ns, "Unschedulable")).find(
        (m) => m.startsWith("Warning: ") && m.includes(pod) && m.includes("anti-affinity"),
      ),
    );
    assert.match(warning.slice("Warning: ".length), schedulers, "the Event carries the scheduler's message");
    const podEvents = await eventsAbout(env.cp, env.ns, "Pod", pod);
    assert.ok(
      podEvents.some((e) => e.startsWith("Warning FailedScheduling")),
      `kube-scheduler recorded FailedScheduling on ${pod}: ${podEvents.join(" | ")}`,
    );
    // Pending, and staying so: the runtime runs no Pod that no node was given.
    const pending = (await env.pods(cluster)).find((p) => p.metadata?.name === pod)!;
    assert.equal(pending.spec?.nodeName, undefined);
    assert.equal(pending.status?.phase, "Pending");
  };

  before(async () => {
    env = await startScheduledEnv({ prefix: "scheduling", nodes: 4, controllerArgs: ["--resync-period=5"] });
    // node-d shares zone-a with node-a. Kept out for the hostname scenarios, so that three nodes
    // take Pods; it comes back for the zone scenario, where it must not help.
    await env.cp.kubectlOk(["cordon", "node-d"]);
  });

  after(async () => {
    await env?.stop();
    console.log(`      figures: ${JSON.stringify(figures, null, 2).replaceAll("\n", "\n      ")}`);
  });

  it("Required puts three voters on three different nodes, each on a Bound volume", async () => {
    await env.applyCluster("spread", { replicas: 3, affinity: { podAntiAffinity: "Required" } });
    await env.converged("spread", 3);
    const placement = await env.placement("spread");
    console.log(`      placement: ${JSON.stringify(placement)}`);
    assert.deepEqual(Object.keys(placement).sort(), names("spread", 3));
    assert.equal(new Set(Object.values(placement)).size, 3, "one voter per node");
    assert.ok(!Object.values(placement).includes("node-d"), "a cordoned node takes no Pod");
    for (const pvc of await env.pvcs("spread")) {
      assert.equal(pvc.status?.phase, "Bound", `PVC ${pvc.metadata?.name} is Bound`);
      assert.equal(pvc.spec?.storageClassName, EXPANDABLE_STORAGE_CLASS, "the default StorageClass provisions it");
      assert.ok(pvc.spec?.volumeName, `PVC ${pvc.metadata?.name} names its PV`);
    }
    await createRowsTable(env.ns, (await env.cluster("spread")).status.leader!);
  });

  it("leaves a fourth voter Pending on three nodes, and the cluster's status and a Warning say why", async () => {
    await change("spread", "4th voter on 3 nodes, Required, and back", names("spread", 3), async () => {
      await env.kubectl(["scale", "rqc", "spread", "--replicas=4"]);
      await assertUnschedulable("spread", "spread-3");
      // It stays so: more scheduling attempts change nothing, and nothing else moves.
      await new Promise((r) => setTimeout(r, 5000));
      const placement = await env.placement("spread");
      assert.equal(placement["spread-3"], undefined, "spread-3 was never placed");
      assert.equal(Object.keys(placement).length, 3);
      const status = (await env.cluster("spread")).status;
      assert.equal(status.readyReplicas, 3);
      assert.ok(
        status.conditions?.some((c) => c.type === "Available" && c.status === "True"),
        "three voters keep the cluster Available",
      );
      // Undone: the Pending Pod goes, and the cluster converges again.
      await env.kubectl(["scale", "rqc", "spread", "--replicas=3"]);
      await env.converged("spread", 3);
    });
    assert.notEqual((await progressing("spread"))?.reason, "Unschedulable", "the problem is gone from the status");
    assert.deepEqual(Object.keys(await env.placement("spread")).sort(), names("spread", 3));
    // Its nodes are free for what follows.
    await env.kubectl(["delete", "rqc", "spread", "--wait=false"]);
  });

  it("places a fourth voter on three nodes with Preferred", async () => {
    await env.applyCluster("pref", { replicas: 3, affinity: { podAntiAffinity: "Preferred" } });
    await env.converged("pref", 3);
    const first = await env.placement("pref");
    assert.equal(new Set(Object.values(first)).size, 3, `three voters on three nodes first: ${JSON.stringify(first)}`);
    await createRowsTable(env.ns, (await env.cluster("pref")).status.leader!);
    await change("pref", "4th voter on 3 nodes, Preferred", names("pref", 4), async () => {
      await env.kubectl(["scale", "rqc", "pref", "--replicas=4"]);
      await env.converged("pref", 4);
    });
    const placement = await env.placement("pref");
    console.log(`      placement: ${JSON.stringify(placement)}`);
    assert.deepEqual(Object.keys(placement).sort(), names("pref", 4));
    assert.equal(new Set(Object.values(placement)).size, 3, "four voters on the three schedulable nodes");
    await env.kubectl(["delete", "rqc", "pref", "--wait=false"]);
  });

  it("spreads across zones with topologyKey topology.kubernetes.io/zone, even where a node is free", async () => {
    await env.cp.kubectlOk(["uncordon", "node-d"]);
    await env.applyCluster("zonal", { replicas: 3, affinity: { podAntiAffinity: "Required", topologyKey: ZONE } });
    await env.converged("zonal", 3);
    const zones = await env.zones();
    const placement = await env.placement("zonal");
    const placedZones = Object.values(placement).map((n) => zones[n]);
    console.log(`      placement: ${JSON.stringify(placement)}; zones ${placedZones.join(", ")}`);
    assert.equal(new Set(placedZones).size, 3, "one voter per zone");
    await createRowsTable(env.ns, (await env.cluster("zonal")).status.leader!);
    // Four nodes but three zones: a fourth voter has a free node (one of node-a and node-d) yet
    // no zone of its own.
    await change("zonal", "4th voter in 3 zones, and back", names("zonal", 3), async () => {
      await env.kubectl(["scale", "rqc", "zonal", "--replicas=4"]);
      await assertUnschedulable("zonal", "zonal-3");
      const cond = await progressing("zonal");
      assert.match(cond?.message ?? "", /needs a topology\.kubernetes\.io\/zone of its own/);
      await env.kubectl(["scale", "rqc", "zonal", "--replicas=3"]);
      await env.converged("zonal", 3);
    });
    assert.deepEqual(Object.keys(await env.placement("zonal")).sort(), names("zonal", 3));
  });
});
