// Hibernation on the scheduling plane (scheduler, kube-controller-manager): spec.hibernate deletes
// every Pod and keeps the PVCs, Services and Secrets; an RqBackup of the hibernated cluster fails
// at once, naming why; waking brings the same members back on the same volumes, with the same
// Raft configuration (no member removed or added) and every acknowledged row on every node. The
// invariant monitor and a writer watch the whole of it; the time to Available after waking is
// printed for the closing note.
import { strict as assert } from "node:assert";
import type { KubernetesObject } from "@kubernetes/client-node";
import { LABEL_CLUSTER } from "../../shared/names.js";
import { isAvailable, type ClusterStatus } from "./clusterStatus.js";
import { monitoredChange } from "./monitoredChange.js";
import { createRowsTable, rqliteNode, ROWS_TABLE, type AckedRow } from "./rows.js";
import { eventsAbout, eventually, startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";

const CLUSTER = "sleepy";
const VOTERS = 3;
const PODS = Array.from({ length: VOTERS }, (_, i) => `${CLUSTER}-${i}`);

describe("hibernation: every Pod goes, the volumes stay, the same members wake with every row", function () {
  this.timeout(600_000);
  let env: ScheduledEnv;
  const figures: Record<string, string> = {};

  /** name -> uid of the cluster's children of one kind: the same uids after waking are the same objects. */
  const uids = async (kind: string): Promise<Record<string, string>> => {
    const list = JSON.parse(await env.kubectl(["get", kind, "-l", `${LABEL_CLUSTER}=${CLUSTER}`, "-o", "json"])) as {
      items: KubernetesObject[];
    };
    return Object.fromEntries(list.items.map((o) => [o.metadata!.name!, o.metadata!.uid!]));
  };
  const status = async (): Promise<
    Omit<ClusterStatus, "conditions"> & { conditions?: Array<{ type: string; status: string; reason?: string }> }
  > =>
    (JSON.parse(await env.kubectl(["get", "rqc", CLUSTER, "-o", "json"])) as { status?: ClusterStatus }).status ?? {};
  const hibernate = (on: boolean) =>
    env.kubectl(["patch", "rqc", CLUSTER, "--type=merge", "-p", JSON.stringify({ spec: { hibernate: on } })]);

  before(async () => {
    env = await startScheduledEnv({ prefix: "hibernate", nodes: 3, controllerArgs: ["--resync-period=5"] });
  });

  after(async () => {
    await env?.stop();
    console.log(`      figures: ${JSON.stringify(figures, null, 2).replaceAll("\n", "\n      ")}`);
  });

  it("hibernates and wakes a 3-voter cluster under a writer, with no Raft change and every row", async () => {
    await env.applyCluster(CLUSTER, { replicas: VOTERS, affinity: { podAntiAffinity: "Preferred" } });
    await env.converged(CLUSTER, VOTERS, 180_000);
    await createRowsTable(env.ns, (await env.cluster(CLUSTER)).status.leader!);
    const kept = { pvc: await uids("pvc"), service: await uids("service"), secret: await uids("secret") };
    assert.equal(Object.keys(kept.pvc).length, VOTERS, "one PVC per voter");
    assert.ok(Object.keys(kept.service).length >= 2, "both Services");
    const podUids = await uids("pod");

    const acked: AckedRow[] = [];
    let indexBefore = 0;
    let wakeSeconds = "";
    let hibernateSeconds = "";
    const report = await monitoredChange(
      {
        name: "hibernate and wake",
        client: env.client,
        namespace: env.ns,
        cluster: CLUSTER,
        // Every voter goes by request: declared as the test's own (below), while V2 still watches
        // every Raft removal and V1 every voter going down outside the hibernation.
        allowance: VOTERS,
        acked,
        podsAfter: () => PODS,
        figures,
      },
      async (monitor) => {
        // Rows acknowledged before the cluster sleeps, so that waking has something to bring back.
        await eventually("the writer acknowledged rows", async () => {
          const rows = await rqliteNode(env.ns, PODS[0]!).query(`SELECT COUNT(*) AS n FROM ${ROWS_TABLE}`, {
            level: "strong",
          });
          return Number(rows[0]?.n) >= 20;
        });
        const leader = (await status()).leader!;
        indexBefore = (await rqliteNode(env.ns, leader).status()).lastLogIndex;
        const asleep = Date.now();
        // Every voter goes by the test's request until none is left: declared as the test's own
        // for as long as that lasts (a stopping rqlited may answer a sample, then not the next).
        const declare = () => PODS.forEach((pod) => monitor.fault(pod));
        declare();
        const declaring = setInterval(declare, 500);
        try {
          await hibernate(true);
          await eventually(
            "phase Hibernated with no Pod left",
            async () => (await status()).phase === "Hibernated" && (await env.pods(CLUSTER)).length === 0,
            120_000,
          );
        } finally {
          clearInterval(declaring);
        }
        hibernateSeconds = ((Date.now() - asleep) / 1000).toFixed(1);
        const s = await status();
        const cond = (type: string) => s.conditions?.find((c) => c.type === type);
        assert.deepEqual([cond("Available")?.status, cond("Available")?.reason], ["False", "Hibernated"]);
        assert.equal(cond("Degraded")?.status, "False");
        assert.equal(s.leader, undefined, "no leader while hibernated");
        assert.deepEqual(s.members?.map((m) => m.id).sort(), [...PODS].sort(), "the members stay recorded for waking");
        assert.deepEqual(await uids("pvc"), kept.pvc, "the same PVCs");
        assert.deepEqual(await uids("service"), kept.service, "the same Services");
        assert.deepEqual(await uids("secret"), kept.secret, "the same Secrets");

        // An RqBackup of a hibernated cluster fails at once, saying why.
        await env.kubectl(
          ["apply", "-f", "-"],
          JSON.stringify({
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            metadata: { name: "sleepy-backups" },
            spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "64Mi" } } },
          }),
        );
        await env.kubectl(
          ["apply", "-f", "-"],
          JSON.stringify({
            apiVersion: "rqlite.io/v1alpha1",
            kind: "RqBackup",
            metadata: { name: "while-asleep" },
            spec: { cluster: CLUSTER, destination: { pvc: { claimName: "sleepy-backups" } } },
          }),
        );
        const backup = await eventually("RqBackup while-asleep Failed", async () => {
          const b = JSON.parse(await env.kubectl(["get", "rqbackup", "while-asleep", "-o", "json"])) as {
            status?: { phase?: string; attempts?: number; reason?: string };
          };
          return b.status?.phase === "Failed" && b.status;
        });
        figures["RqBackup of a hibernated cluster"] =
          `${backup.phase} after ${backup.attempts} attempt(s): ${backup.reason}`;
        assert.equal(backup.attempts, 1, "no retry can wake the cluster");
        assert.match(backup.reason ?? "", /is hibernated \(spec\.hibernate: true\).*wake it/);

        const woken = Date.now();
        await hibernate(false);
        await eventually("Available after waking", async () => isAvailable(await status()), 180_000);
        wakeSeconds = ((Date.now() - woken) / 1000).toFixed(1);
        await env.converged(CLUSTER, VOTERS, 180_000);
        figures["seconds to Available after waking"] = wakeSeconds;
        figures["seconds to Running after waking"] = ((Date.now() - woken) / 1000).toFixed(1);
        figures["seconds to Hibernated"] = hibernateSeconds;
      },
    );

    // The same members: no Raft removal during the run, the same volumes, new Pods.
    assert.deepEqual(report.removals, [], "no voter left the Raft configuration");
    assert.deepEqual(await uids("pvc"), kept.pvc, "the woken nodes run on the same PVCs");
    const after = await uids("pod");
    for (const pod of PODS) assert.notEqual(after[pod], podUids[pod], `${pod} is a new Pod`);
    const s = await status();
    assert.deepEqual(s.members?.map((m) => m.id).sort(), [...PODS].sort());
    // The Raft log went on from where it was: the woken nodes hold it, not a fresh one.
    const indexAfter = (await rqliteNode(env.ns, s.leader!).status()).lastLogIndex;
    assert.ok(indexAfter >= indexBefore, `last log index ${indexAfter} after waking, ${indexBefore} before`);
    const counts = await Promise.all(
      PODS.map(
        async (pod) =>
          (await rqliteNode(env.ns, pod).query(`SELECT COUNT(*) AS n FROM ${ROWS_TABLE}`, { level: "none" }))[0]?.n,
      ),
    );
    figures["rows"] = `${acked.length} acknowledged, per node after waking: ${counts.join(", ")}`;
    const events = await eventsAbout(env.cp, env.ns, "RqCluster", CLUSTER);
    // One reconcile's Events of one reason are sent as one, naming each Pod.
    const deletions = events.filter((e) => / Hibernating: /.test(e)).join("\n");
    for (const pod of PODS)
      assert.ok(
        deletions.includes(`deleted Pod ${pod} (spec.hibernate is true)`),
        `an Event names ${pod}'s deletion:\n${events.join("\n")}`,
      );
  });
});
