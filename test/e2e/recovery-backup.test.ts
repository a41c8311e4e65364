// Quorum-loss recovery with no survivor (issue 23), on the plane with a real S3 server
// (versitygw): a 3-voter cluster with a writer, a verified RqBackup taken while it writes, then
// all three voters and their volumes destroyed. `kubectl rqlite recover --from-backup` rebuilds
// the cluster on fresh volumes from that backup: every row in the backup (read from the object
// itself with sqlite3) is then on every node, rows acknowledged after it are the data-loss window
// the report names, and the report names the backup and when it was taken.
// The invariant monitor does not watch the recovery, as in recovery.test.ts: it takes every voter
// down and replaces the Raft configuration on purpose, which is exactly what its rules forbid.
import { strict as assert } from "node:assert";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import type { S3TestServer } from "../../testenv/s3.js";
import { fileRows } from "./backupFile.js";
import { assertRowsOnEveryNode, createRowsTable, rqliteNode, ROWS_TABLE, startAckedWriter } from "./rows.js";
import { S3_CREDENTIALS, useS3Stack } from "./s3Stack.js";
import { runPlugin } from "./plugin.js";
import { eventsAbout, eventually, type ScheduledEnv } from "./scheduledEnv.js";

const IMAGE = "rqlite/rqlite:8.43.4";
const BUCKET = "no-survivor";
const CLUSTER = "ember";
const BACKUP = "ember-verified";
const PODS = [0, 1, 2].map((i) => `${CLUSTER}-${i}`);

interface Recovery {
  phase?: string;
  message?: string;
  survivor?: string;
  lost?: string[];
  backup?: { name?: string; location?: string; completedAt?: string; verifiedAt?: string };
}

describe("quorum-loss recovery with no survivor: every voter and volume destroyed, rebuilt from the newest verified backup", function () {
  this.timeout(900_000);
  let env: ScheduledEnv;
  let s3: S3TestServer;
  const figures: Record<string, string> = {};

  useS3Stack("recovery-backup", BUCKET, figures, (e) => ({ env, s3 } = e));

  const read = async () =>
    JSON.parse(await env.kubectl(["get", "rqc", CLUSTER, "-o", "json"])) as {
      metadata: { uid: string };
      status?: {
        leader?: string;
        recovery?: Recovery;
        conditions?: Array<{ type: string; status: string }>;
      };
    };
  const plugin = (args: string[]) => runPlugin(env, args);
  /** The rows the backup object holds, read from the object with sqlite3. */
  const rowsInBackup = async (location: string): Promise<string[]> => {
    const key = /^s3:\/\/[^/]+\/(.+)$/.exec(location)![1]!;
    const client = s3.client();
    const dir = await mkdtemp(join(tmpdir(), "recovery-backup-"));
    try {
      const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      const body = Buffer.from(await got.Body!.transformToByteArray());
      const file = join(dir, "backup.sqlite");
      await writeFile(file, key.endsWith(".gz") ? gunzipSync(body) : body);
      return await fileRows(file, ROWS_TABLE, "v");
    } finally {
      client.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  };

  it("refuses while a voter holds data, then restores the backup on fresh volumes: every backed-up row on every node", async () => {
    // One voter per Kubernetes node: with every node cordoned, nothing the operator remakes can
    // run, as when the machines themselves are gone.
    await env.applyCluster(CLUSTER, { replicas: 3, image: IMAGE, affinity: { podAntiAffinity: "Required" } });
    await env.converged(CLUSTER, 3, 180_000);
    await createRowsTable(env.ns, (await env.cluster(CLUSTER)).status.leader!);
    const uid = (await read()).metadata.uid;

    const writer = startAckedWriter({ client: env.client, namespace: env.ns, cluster: CLUSTER, prefix: "row" });
    const writing = (n: number) =>
      eventually(`${n} rows acknowledged`, async () => {
        const rows = await rqliteNode(env.ns, PODS[0]!).query(`SELECT COUNT(*) AS n FROM ${ROWS_TABLE}`, {
          level: "strong",
        });
        return Number(rows[0]?.n) >= n;
      });
    await writing(50);
    await env.kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqBackup",
        metadata: { name: BACKUP },
        spec: {
          cluster: CLUSTER,
          verify: true,
          destination: {
            s3: {
              bucket: BUCKET,
              path: "ember",
              endpoint: s3.endpoint,
              region: s3.region,
              forcePathStyle: true,
              credentialsSecret: { name: S3_CREDENTIALS },
            },
          },
        },
      }),
    );
    const backup = await eventually(
      `RqBackup ${BACKUP} Verified`,
      async () => {
        const b = JSON.parse(await env.kubectl(["get", "rqbackup", BACKUP, "-o", "json"])) as {
          status?: {
            location?: string;
            completedAt?: string;
            conditions?: Array<{ type: string; status: string; message?: string }>;
          };
        };
        const v = b.status?.conditions?.find((c) => c.type === "Verified");
        if (v?.status === "False") throw new Error(`the backup failed verification: ${v.message}`);
        return v?.status === "True" && b.status!;
      },
      240_000,
    );
    // The writer goes on after the backup: those rows are the recovery's data-loss window.
    const count = Number(
      (await rqliteNode(env.ns, PODS[0]!).query(`SELECT COUNT(*) AS n FROM ${ROWS_TABLE}`, { level: "strong" }))[0]?.n,
    );
    await writing(count + 20);

    // A recovery from the backup while the voters still hold their data is refused: they are newer.
    const early = await plugin(["recover", CLUSTER, "--from-backup", "--confirm", uid, "--timeout", "120s"]);
    figures["recovery from backup with quorum"] = early.stderr.trim();
    assert.equal(early.code, 1, early.stdout + early.stderr);
    assert.match(early.stderr, /recovery refused: rqlite leader \S+ answers/);

    // Every voter and its volume destroyed, with their machines, while the writer writes.
    const nodes = Object.values(await env.placement(CLUSTER));
    assert.equal(nodes.length, 3);
    for (const node of nodes) await env.cp.kubectlOk(["cordon", node]);
    await env.kubectl(["delete", "pvc", ...PODS, "--wait=false"]);
    await env.kubectl(["delete", "pod", ...PODS, "--force", "--grace-period=0"]);
    await eventually("quorum lost: no leader, not Available", async () => {
      const s = (await read()).status;
      return !s?.leader && s?.conditions?.some((c) => c.type === "Available" && c.status === "False");
    });
    const written = await writer.stop();
    figures["rows acknowledged in all"] = String(written.acked.length);
    // Claims the operator remade before it recorded the loss cannot be told from old ones: gone
    // too, as the recovery's own waiting message asks of a person.
    await env.kubectl(["delete", "pvc", ...PODS, "--wait=false", "--ignore-not-found"]);

    const inBackup = await rowsInBackup(backup.location!);
    assert.ok(inBackup.length >= 50, `the backup holds the rows written before it: ${inBackup.length}`);
    figures["rows in the backup"] = String(inBackup.length);
    figures["acknowledged rows after the backup (the data-loss window)"] = String(
      written.acked.filter((a) => !inBackup.includes(a.value)).length,
    );

    const started = Date.now();
    const recovering = plugin(["recover", CLUSTER, "--from-backup", "--confirm", uid, "--timeout", "480s"]);
    // The machines come back once the recovery has replaced the volumes: the Pods it makes then load the backup.
    await eventually(
      "the recovery restoring",
      async () => {
        const r = (await read()).status?.recovery;
        if (r?.phase === "Refused" || r?.phase === "Failed") throw new Error(`recovery ${r.phase}: ${r.message}`);
        return r?.phase === "Restoring";
      },
      240_000,
    );
    for (const node of nodes) await env.cp.kubectlOk(["uncordon", node]);
    const done = await recovering;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`      kubectl rqlite recover --from-backup:\n${done.stdout.replace(/^/gm, "        ")}`);
    assert.equal(done.code, 0, done.stdout + done.stderr);
    figures["seconds to recover"] = seconds;
    const r = (await read()).status!.recovery!;
    figures.report = JSON.stringify(r);
    assert.equal(r.phase, "Completed");
    assert.equal(r.survivor, undefined);
    assert.deepEqual(r.backup, {
      name: BACKUP,
      location: backup.location,
      completedAt: backup.completedAt,
      verifiedAt: r.backup?.verifiedAt,
    });
    assert.ok(r.backup?.verifiedAt, "the report says when the backup was verified");
    assert.deepEqual(r.lost?.sort(), [...PODS].sort());
    assert.match(done.stdout, new RegExp(`recovery Completed from RqBackup ${BACKUP}`));
    assert.ok(done.stdout.includes(`taken at ${backup.completedAt}`), "the report names the backup's time");
    assert.ok(done.stdout.includes(`every write after ${backup.completedAt} is lost`), "and the data-loss window");

    await env.converged(CLUSTER, 3, 300_000);
    // Every row in the backup is on every node, and nothing the backup did not hold.
    await assertRowsOnEveryNode(
      env.ns,
      PODS,
      inBackup.map((value) => ({ value, via: "backup" })),
    );
    for (const pod of PODS) {
      const rows = await rqliteNode(env.ns, pod).query(`SELECT v FROM ${ROWS_TABLE} WHERE v NOT LIKE 'marker-%'`, {
        level: "none",
      });
      assert.deepEqual(rows.map((x) => String(x.v)).sort(), [...inBackup].sort(), `${pod} holds the backup's rows`);
    }
    const events = await eventsAbout(env.cp, env.ns, "RqCluster", CLUSTER);
    const steps = events.filter((e) => / Recovery\w+: /.test(e));
    console.log(`      recovery events:\n        ${steps.join("\n        ")}`);
    // (RecoveryStopping and RecoveryClearingVolumes come only for Pods and claims the operator
    // remade meanwhile; whether it had is a race with the loss, not the recovery's.)
    for (const reason of ["RecoveryStarted", "RecoveryRestoring", "RecoveryCompleted"])
      assert.ok(
        steps.some((e) => e.includes(` ${reason}: `)),
        `an Event ${reason}`,
      );
  });
});
