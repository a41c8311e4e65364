// Verified backups end to end (issue 23): the real controller (two replicas, as its
// ServiceAccount) takes an RqBackup with spec.verify of a cluster of real rqlited processes to a
// real S3 server (versitygw), reads the object back and proves it restores: Verified True with
// the sha256 the upload wrote and the tables and rows the cluster holds. A second backup's
// object then has one byte flipped on the S3 server itself; asked again (the verify-requested
// annotation), verification fails with a message that says the object changed, and the
// controller's rqlite_operator_backup_verified gauge, which RqliteBackupVerificationFailed
// alerts on (test/install/monitoring.test.ts), drops to 0 for the cluster.
import { strict as assert } from "node:assert";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import type { Condition } from "../../shared/index.js";
import { VERIFY_REQUEST_ANNOTATION } from "../../shared/backup-schema.js";
import type { RqBackupStatus } from "../../controller/rqbackup/types.js";
import type { LocalStack } from "../../local/stack.js";
import type { S3TestServer } from "../../testenv/s3.js";
import { createItemsTable, writeItems } from "./backupData.js";
import { rqliteNode } from "./rows.js";
import { S3_CREDENTIALS, useS3Stack } from "./s3Stack.js";
import { eventually, type ScheduledEnv } from "./scheduledEnv.js";

const IMAGE = "rqlite/rqlite:8.43.4";
const BUCKET = "verified";
const CLUSTER = "vdb";
const ROWS = 5000;

type Status = RqBackupStatus & { conditions?: Condition[] };
const verified = (s: Status) => s.conditions?.find((c) => c.type === "Verified");

describe("RqBackup verification: a backup proven to restore, and one changed on the S3 server", function () {
  this.timeout(600_000);
  let env: ScheduledEnv;
  let stack: LocalStack;
  let s3: S3TestServer;
  let ns: string;
  const figures: Record<string, string> = {};

  useS3Stack("verify", BUCKET, figures, (e) => ({ env, s3, stack, ns } = e));

  const status = async (name: string): Promise<Status> =>
    (JSON.parse(await env.kubectl(["get", "rqbackup", name, "-o", "json"])) as { status?: Status }).status ?? {};
  const createBackup = (name: string, verify: boolean) =>
    env.kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqBackup",
        metadata: { name },
        spec: {
          cluster: CLUSTER,
          verify,
          destination: {
            s3: {
              bucket: BUCKET,
              path: "checked",
              endpoint: s3.endpoint,
              region: s3.region,
              forcePathStyle: true,
              credentialsSecret: { name: S3_CREDENTIALS },
            },
          },
        },
      }),
    );
  const objectKey = (location: string) => /^s3:\/\/[^/]+\/(.+)$/.exec(location)![1]!;
  /** The gauge as the leading controller replica exposes it. */
  const gauge = async (name: string) => {
    for (const c of stack.controllers) {
      if (!(await c.isLeader())) continue;
      return (await c.samples(name)).find((s) => s.labels.namespace === ns && s.labels.cluster === CLUSTER)?.value;
    }
    return undefined;
  };

  before(async () => {
    await env.applyCluster(CLUSTER, { replicas: 1, image: IMAGE });
    await env.converged(CLUSTER, 1, 180_000);
    await createItemsTable(ns, `${CLUSTER}-0`);
    for (let from = 1; from <= ROWS; from += 1000) await writeItems(ns, `${CLUSTER}-0`, from, 1000);
  });

  it("proves a backup restores: Verified True, with the sha256 written and the cluster's tables and rows", async () => {
    const started = Date.now();
    await createBackup("good", true);
    const s = await eventually(
      "RqBackup good Verified or not",
      async () => {
        const st = await status("good");
        return verified(st)?.status !== undefined && verified(st)?.status !== "Unknown" && st;
      },
      240_000,
    );
    assert.equal(s.phase, "Completed");
    assert.equal(verified(s)?.status, "True", verified(s)?.message);
    assert.equal(verified(s)?.reason, "Verified");
    const v = s.verification!;
    assert.equal(v.result, "Verified");
    assert.equal(v.sha256, s.sha256, "the bytes read back are the bytes written");
    assert.equal(v.size, s.size);
    assert.equal(v.integrityCheck, "ok");
    // The cluster holds one table of ROWS rows; the restored file must hold the same.
    const tables = await rqliteNode(ns, `${CLUSTER}-0`).query(
      "SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    );
    assert.equal(v.tables, Number(tables[0]?.n));
    assert.equal(v.rows, ROWS);
    assert.equal(await gauge("rqlite_operator_backup_verified"), 1);
    assert.ok((await gauge("rqlite_operator_backup_last_verified_timestamp_seconds"))! > started / 1000 - 5);
    figures.good = `${v.size} bytes, ${v.tables} table(s), ${v.rows} rows, verified ${((Date.parse(v.verifiedAt!) - started) / 1000).toFixed(1)} s after creation`;
  });

  it("finds a byte flipped in the object on the S3 server: Verified False, ChecksumMismatch, and the gauge at 0", async () => {
    await createBackup("flipped", false);
    const done = await eventually(
      "RqBackup flipped Completed",
      async () => {
        const st = await status("flipped");
        return st.phase === "Completed" && st;
      },
      180_000,
    );
    assert.equal(verified(done), undefined, "verify: false reads nothing back by itself");
    // One byte flipped in the middle of the object, written straight to the S3 server.
    const client = s3.client();
    const key = objectKey(done.location!);
    try {
      const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      const body = Buffer.from(await got.Body!.transformToByteArray());
      assert.equal(body.length, done.size);
      const at = Math.floor(body.length / 2);
      body[at] = body[at]! ^ 0x01;
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
      figures.flipped = `byte ${at} of ${body.length}`;
    } finally {
      client.destroy();
    }
    await env.kubectl(["annotate", "rqbackup", "flipped", `${VERIFY_REQUEST_ANNOTATION}=1`]);
    const s = await eventually(
      "RqBackup flipped verified",
      async () => {
        const st = await status("flipped");
        return verified(st)?.status === "False" && st;
      },
      120_000,
    );
    const c = verified(s)!;
    assert.equal(c.reason, "ChecksumMismatch");
    assert.match(c.message, /changed after it was uploaded; do not restore from it/);
    assert.match(c.message, new RegExp(`s3://${BUCKET}/${key.replaceAll(".", "\\.")}`));
    assert.equal(s.verification?.result, "Failed");
    assert.equal(s.verification?.request, "1");
    assert.notEqual(s.verification?.sha256, s.sha256);
    assert.equal(s.phase, "Completed", "the upload did complete; the condition says what became of it");
    // The alert's series: the newest conclusive verification of the cluster failed.
    await eventually(
      "rqlite_operator_backup_verified 0",
      async () => (await gauge("rqlite_operator_backup_verified")) === 0,
    );
    const events = await env.kubectl([
      "get",
      "events",
      "--field-selector",
      "involvedObject.name=flipped",
      "-o",
      "json",
    ]);
    assert.match(events, /BackupVerificationFailed/);
    figures.flippedMessage = c.message;
  });
});
