// Restore to a point in time (issue 23): spec.restore.s3.before on the plane with a real S3 server
// (versitygw). Five backups of one cluster, taken under the invariant monitor with a writer, each
// holding 100 more rows than the last, are put in one folder with timestamped names (rqlite's
// auto-backup form and an RqBackup's), uploaded out of order so S3's modification times say
// nothing, beside objects that must be left alone (a sub-folder's, a malformed stamp, an sql dump,
// a note; each garbage, so choosing one would fail the restore). `before` given in another offset
// must pick the third: its rows, and only its rows, on every node of a new 3-voter cluster, the
// choice told in status and an Event. A time before every backup is Failed with no node; a time
// that is no RFC 3339 is refused by the webhook.
import { strict as assert } from "node:assert";
import { gzipSync } from "node:zlib";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import type { V1Pod } from "@kubernetes/client-node";
import type { KubeClient } from "../../controller/runtime/kubeClient.js";
import type { LocalStack } from "../../local/stack.js";
import { eventually } from "../../testenv/eventually.js";
import type { S3TestServer } from "../../testenv/s3.js";
import {
  clusterStatus,
  condition,
  createItemsTable,
  digest,
  waitRestoredAndAvailable,
  writeItems,
  type BackupClusterStatus,
  type TableDigest,
} from "./backupData.js";
import { eventMessages } from "./clusterStatus.js";
import { monitoredChange } from "./monitoredChange.js";
import { createRowsTable, rqliteNode, type AckedRow } from "./rows.js";
import { S3_CREDENTIALS, useS3Stack } from "./s3Stack.js";

const IMAGE = "rqlite/rqlite:8.43.4";
const BUCKET = "pitr";
const FOLDER = "prod/db";
/** The five backups' names, oldest first: their times are in the names, an hour apart from 10:00Z. */
const NAMES = [
  "20261207100000_db.sqlite.gz",
  "20261207110000_db.sqlite.gz",
  "20261207120000_db.sqlite.gz",
  "ns-manual-20261207T130000Z.sqlite.gz",
  "20261207140000_db.sqlite.gz",
];
/** Left alone whatever their names suggest: a sub-folder's, no real time, an sql dump, no stamp. */
const DISTRACTORS = [
  "nested/20261207123000_db.sqlite.gz",
  "20261207993000_db.sqlite.gz",
  "ns-dump-20261207T123000Z.sql.gz",
  "notes.txt",
];
/** 12:45Z said in UTC+1: after the third backup (12:00Z), before the fourth (13:00Z). */
const BEFORE = "2026-12-07T13:45:00+01:00";

describe("restore to a point in time: spec.restore.s3.before", function () {
  this.timeout(900_000);
  let s3: S3TestServer;
  let stack: LocalStack;
  let client: KubeClient;
  let ns: string;
  const acked: AckedRow[] = [];
  const figures: Record<string, string> = {};
  const taken: TableDigest[] = [];

  const status = (name: string) => clusterStatus(stack.cp, ns, name);
  const manifest = (name: string, before: string) =>
    JSON.stringify({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name },
      spec: {
        replicas: 3,
        image: IMAGE,
        restore: {
          s3: {
            bucket: BUCKET,
            path: FOLDER,
            endpoint: s3.endpoint,
            forcePathStyle: true,
            credentialsSecret: { name: S3_CREDENTIALS },
            before,
          },
        },
      },
    });
  const podsOf = async (name: string) =>
    (
      JSON.parse(
        await stack.cp.kubectlOk(["get", "pods", "-n", ns, "-l", `rqlite.io/cluster=${name}`, "-o", "json"]),
      ) as { items: V1Pod[] }
    ).items;

  useS3Stack("pitr", BUCKET, figures, (env) => ({ s3, stack, client, ns } = env));

  it("takes five backups of a cluster under the invariant monitor, 100 more rows each, and puts them in S3 out of order", async () => {
    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqCluster",
        metadata: { name: "orig" },
        spec: { replicas: 1, image: IMAGE },
      }),
    });
    let last: BackupClusterStatus | undefined;
    await eventually(
      "orig Running with a leader",
      async () => {
        last = await status("orig");
        return last.phase === "Running" && last.leader !== undefined;
      },
      120_000,
      { intervalMs: 500, state: () => last },
    );
    await createItemsTable(ns, "orig-0");
    await createRowsTable(ns, "orig-0");
    const files: Buffer[] = [];
    await monitoredChange(
      { name: "five backups", client, namespace: ns, cluster: "orig", acked, podsAfter: () => ["orig-0"], figures },
      async () => {
        for (let i = 0; i < NAMES.length; i++) {
          await writeItems(ns, "orig-0", i * 100 + 1, 100);
          taken.push(await digest(ns, "orig-0"));
          files.push(gzipSync(await rqliteNode(ns, "orig-0", 30_000).backup()));
        }
      },
    );
    assert.deepEqual(
      taken.map((d) => d.rows),
      [100, 200, 300, 400, 500],
    );
    const c = s3.client();
    try {
      // Newest first: S3's modification times run against the names' times.
      for (const i of [4, 3, 2, 1, 0])
        await c.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${FOLDER}/${NAMES[i]}`, Body: files[i] }));
      for (const name of DISTRACTORS)
        await c.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${FOLDER}/${name}`, Body: "not a database" }));
    } finally {
      c.destroy();
    }
    figures.backups = NAMES.map((n, i) => `${n}: ${taken[i]!.rows} rows`).join("; ");
  });

  it("before in UTC+1 restores the third backup into three voters: its rows, and only its, on every node", async () => {
    const started = Date.now();
    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], { input: manifest("pit", BEFORE) });
    const last = await waitRestoredAndAvailable(stack.cp, ns, "pit");
    figures.restoreSeconds = ((Date.now() - started) / 1000).toFixed(1);
    const chosenKey = `${FOLDER}/${NAMES[2]}`;
    assert.equal(last.restore?.location, `s3://${BUCKET}/${chosenKey}`);
    const why = (last.restore as { chosen?: string } | undefined)?.chosen;
    assert.equal(
      why,
      `the newest of 3 backups in s3://${BUCKET}/${FOLDER}/ taken before 2026-12-07T12:45:00Z (2 later left out): ${chosenKey}, rqlite auto-backup of 2026-12-07T12:00:00Z`,
    );
    assert.equal(condition(last, "Restored")!.message, `restored from s3://${BUCKET}/${chosenKey}, ${why}`);
    const events = await eventMessages(stack.cp, ns, "RestoreSourceChosen");
    assert.ok(
      events.some((e) => e.startsWith(`Normal: chose s3://${BUCKET}/${chosenKey} to restore: ${why}`)),
      events.join("\n"),
    );
    const pods = (await podsOf("pit")).map((p) => p.metadata!.name!).sort();
    assert.deepEqual(pods, ["pit-0", "pit-1", "pit-2"]);
    for (const pod of pods) assert.deepEqual(await digest(ns, pod), taken[2], `${pod} holds the third backup's rows`);
    figures.chosen = `${NAMES[2]} for before ${BEFORE}: ${taken[2]!.rows} rows on each of ${pods.join(", ")}, checksums equal`;
  });

  it("a time before every backup: Failed, saying none qualifies and the oldest's time, and no node", async () => {
    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], { input: manifest("early", "2026-12-07T10:00:00Z") });
    let last: BackupClusterStatus | undefined;
    await eventually(
      "early Failed for its restore source",
      async () => {
        last = await status("early");
        return last.phase === "Failed" && condition(last, "Restored")?.reason === "RestoreSourceUnavailable";
      },
      60_000,
      { intervalMs: 500, state: () => last },
    );
    assert.match(
      condition(last!, "Restored")!.message!,
      /none of the 5 backups in s3:\/\/pitr\/prod\/db\/ was taken before 2026-12-07T10:00:00Z: the oldest is from 2026-12-07T10:00:00Z/,
    );
    assert.notEqual(condition(last!, "Available")?.status, "True");
    assert.deepEqual(await podsOf("early"), [], "no node while no backup qualifies");
    figures.noneQualifies = condition(last!, "Restored")!.message!;
  });

  it("the webhook refuses a before that is no RFC 3339 time, and both key and before, field-pathed", async () => {
    const local = await stack.cp.kubectl(["apply", "-n", ns, "-f", "-"], {
      input: manifest("local-time", "2026-12-07T12:45:00"),
    });
    assert.notEqual(local.code, 0);
    assert.match(
      local.stderr,
      /spec\.restore\.s3\.before: Invalid value: "2026-12-07T12:45:00": must be an RFC 3339 time/,
    );
    const both = JSON.parse(manifest("both", BEFORE)) as { spec: { restore: { s3: Record<string, unknown> } } };
    both.spec.restore.s3.key = "latest";
    const refused = await stack.cp.kubectl(["apply", "-n", ns, "-f", "-"], { input: JSON.stringify(both) });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /spec\.restore\.s3: Invalid value: "": set exactly one of key .* and before/);
  });
});
