// Quorum-loss recovery on the scheduling plane: a 3-voter cluster with a writer loses two voters
// and their volumes for good; the operator refuses a recovery while the cluster still has its
// leader, then `kubectl rqlite recover` rebuilds it from the survivor through peers.json. Every
// acknowledged row the survivor held is then on every node, the Raft log goes on from the
// survivor's, and the report names the survivor's indexes and the entries that may be lost.
// The invariant monitor does not watch this one: a recovery takes every voter down and shrinks
// the configuration below quorum on purpose, which is exactly what its rules forbid.
import { strict as assert } from "node:assert";
import { assertRowsOnEveryNode, createRowsTable, rqliteNode, ROWS_TABLE, startAckedWriter } from "./rows.js";
import { runPlugin } from "./plugin.js";
import { eventsAbout, eventually, startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";

const CLUSTER = "phoenix";
const PODS = [0, 1, 2].map((i) => `${CLUSTER}-${i}`);
const [SURVIVOR, ...LOST] = PODS as [string, string, string];

interface Recovery {
  requestedAt?: string;
  phase?: string;
  message?: string;
  survivor?: string;
  survivors?: Array<{ id: string; lastLogIndex?: number; appliedIndex?: number }>;
  lost?: string[];
  entriesLost?: number;
}

describe("quorum-loss recovery: two of three voters and their volumes destroyed, rebuilt from the survivor", function () {
  this.timeout(900_000);
  let env: ScheduledEnv;
  const figures: Record<string, string> = {};

  const read = async () =>
    JSON.parse(await env.kubectl(["get", "rqc", CLUSTER, "-o", "json"])) as {
      metadata: { uid: string };
      status?: { leader?: string; recovery?: Recovery };
    };
  const plugin = (args: string[]) => runPlugin(env, args);

  before(async () => {
    env = await startScheduledEnv({ prefix: "recovery", nodes: 3, controllerArgs: ["--resync-period=5"] });
  });

  after(async () => {
    await env?.stop();
    console.log(`      figures: ${JSON.stringify(figures, null, 2).replaceAll("\n", "\n      ")}`);
  });

  it("refuses while the leader answers, then recovers from the survivor with every row it held", async () => {
    // One voter per Kubernetes node, so that with the lost voters' nodes cordoned their
    // replacements cannot run: were they to start on empty volumes under the same names, their
    // empty logs would vote for the survivor and Raft would re-form around it by itself (see
    // the README's data-loss window), which is not the loss this test is about.
    await env.applyCluster(CLUSTER, { replicas: 3, affinity: { podAntiAffinity: "Required" } });
    await env.converged(CLUSTER, 3, 180_000);
    await createRowsTable(env.ns, (await env.cluster(CLUSTER)).status.leader!);
    const uid = (await read()).metadata.uid;

    // A recovery asked for while quorum holds is refused, and nothing changes.
    const refused = await plugin(["recover", CLUSTER, "--confirm", uid, "--timeout", "120s"]);
    figures["recovery with quorum"] = refused.stderr.trim();
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /recovery refused: rqlite leader \S+ answers/);
    await env.converged(CLUSTER, 3, 60_000);

    const writer = startAckedWriter({ client: env.client, namespace: env.ns, cluster: CLUSTER, prefix: "before-loss" });
    await eventually("rows acknowledged", async () => {
      const rows = await rqliteNode(env.ns, SURVIVOR).query(`SELECT COUNT(*) AS n FROM ${ROWS_TABLE}`, {
        level: "strong",
      });
      return Number(rows[0]?.n) >= 50;
    });
    // Two voters and their volumes are destroyed for good, with their machines, while the
    // writer writes.
    const placement = await env.placement(CLUSTER);
    const lostNodes = LOST.map((pod) => placement[pod]!);
    for (const node of lostNodes) await env.cp.kubectlOk(["cordon", node]);
    await env.kubectl(["delete", "pvc", ...LOST, "--wait=false"]);
    await env.kubectl(["delete", "pod", ...LOST, "--force", "--grace-period=0"]);
    await eventually("quorum lost: no leader", async () => !(await read()).status?.leader, 120_000);
    const written = await writer.stop();
    figures["rows acknowledged before the loss"] = String(written.acked.length);

    // What the survivor holds, read from its own database while it runs alone.
    const held = new Set(
      (await rqliteNode(env.ns, SURVIVOR).query(`SELECT v FROM ${ROWS_TABLE}`, { level: "none" })).map((r) =>
        String(r.v),
      ),
    );
    const survivorIndex = (await rqliteNode(env.ns, SURVIVOR).status()).lastLogIndex;
    const ackedHeld = written.acked.filter((a) => held.has(a.value));
    figures["acknowledged rows the survivor held"] = `${ackedHeld.length} of ${written.acked.length}`;

    const started = Date.now();
    const done = await plugin(["recover", CLUSTER, "--confirm", uid, "--timeout", "480s"]);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`      kubectl rqlite recover:\n${done.stdout.replace(/^/gm, "        ")}`);
    assert.equal(done.code, 0, done.stdout + done.stderr);
    figures["seconds to recover"] = seconds;
    const r = (await read()).status!.recovery!;
    figures.report = JSON.stringify(r);
    assert.equal(r.phase, "Completed");
    assert.equal(r.survivor, SURVIVOR);
    assert.deepEqual(r.lost?.sort(), [...LOST].sort());
    assert.equal(typeof r.entriesLost, "number", "the report names how many entries may be lost");
    assert.ok((r.survivors?.[0]?.lastLogIndex ?? 0) >= survivorIndex, "the survivor's indexes are reported");
    assert.match(done.stdout, new RegExp(`recovery Completed from ${SURVIVOR}`));
    assert.match(done.stdout, /entries discarded: \d+/);

    // The machines come back: the other voters start on empty volumes and join the survivor.
    for (const node of lostNodes) await env.cp.kubectlOk(["uncordon", node]);
    await env.converged(CLUSTER, 3, 300_000);
    // Every acknowledged row the survivor held is on every node, the rejoined ones included.
    await assertRowsOnEveryNode(env.ns, PODS, ackedHeld);
    const events = await eventsAbout(env.cp, env.ns, "RqCluster", CLUSTER);
    const steps = events.filter((e) => / Recovery\w+: /.test(e));
    console.log(`      recovery events:\n        ${steps.join("\n        ")}`);
    for (const reason of ["RecoveryStarted", "RecoveryWritingPeers", "RecoveryRestarting", "RecoveryCompleted"])
      assert.ok(
        steps.some((e) => e.includes(` ${reason}: `)),
        `an Event ${reason}`,
      );
  });
});
