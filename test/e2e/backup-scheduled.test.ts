// Scheduled backups end to end (issue 10): rqlite's own auto-backup, configured by the operator
// from spec.backup, uploads timestamped objects to a real S3-compatible server (versitygw, see
// testenv/s3.ts); the operator's retention keeps keepLast of them; and the newest restores into a
// new cluster through spec.restore with every row, node by node. Enabling backups rolls the Pods
// under the invariant monitor while a writer inserts rows.
import { strict as assert } from "node:assert";
import type { V1Pod } from "@kubernetes/client-node";
import type { KubeClient } from "../../controller/runtime/kubeClient.js";
import { listObjects } from "../../controller/access/s3.js";
import { timestampedKeyPattern } from "../../controller/rqcluster/backup/plan.js";
import type { LocalStack } from "../../local/stack.js";
import { RQLITE_CONTAINER } from "../../shared/names.js";
import { eventually as eventuallyWithin } from "../../testenv/eventually.js";
import type { S3TestServer } from "../../testenv/s3.js";
import {
  clusterStatus,
  condition,
  createItemsTable,
  digest,
  waitRestoredAndAvailable,
  writeItems,
  type BackupClusterStatus,
} from "./backupData.js";
import { waitConverged } from "./clusterStatus.js";
import { monitoredChange } from "./monitoredChange.js";
import { assertRowsOnEveryNode, createRowsTable, rqliteNode, ROWS_TABLE, type AckedRow } from "./rows.js";
import { S3_CREDENTIALS, useS3Stack } from "./s3Stack.js";

const eventually = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 120_000) =>
  eventuallyWithin(what, check, timeoutMs, { intervalMs: 500 });

const IMAGE = "rqlite/rqlite:8.43.4";
const BUCKET = "rqlite-backups";
const PATH = "scheduled/src.sqlite.gz";
const KEEP_LAST = 3;
const SRC = ["src-0", "src-1", "src-2"];
const DST = ["dst-0", "dst-1", "dst-2"];
const argsOf = (p: V1Pod) => p.spec?.containers.find((c) => c.name === RQLITE_CONTAINER)?.args ?? [];

describe("scheduled backups: rqlite's auto-backup to S3, retention, and the newest restored", function () {
  this.timeout(900_000);
  let s3: S3TestServer;
  let stack: LocalStack;
  let client: KubeClient;
  let ns: string;
  let nextId = 1;
  const acked: AckedRow[] = [];
  const figures: Record<string, string> = {};
  const seen = new Set<string>();

  const kubectl = (args: string[]) => stack.cp.kubectlOk([...args, "-n", ns]);
  const status = (name: string) => clusterStatus(stack.cp, ns, name);
  const uploads = async () => {
    const c = s3.client();
    try {
      const pattern = timestampedKeyPattern(PATH);
      return (await listObjects(c, BUCKET, "scheduled/")).filter((o) => pattern.test(o.key));
    } finally {
      c.destroy();
    }
  };
  const converged = (name: string, also?: () => Promise<boolean>) => waitConverged(stack.cp, ns, name, 3, also);
  const s3Spec = () => ({
    bucket: BUCKET,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentialsSecret: { name: S3_CREDENTIALS },
  });

  useS3Stack("backup", BUCKET, figures, (env) => ({ s3, stack, client, ns } = env));

  it("creates a 3-node cluster and writes rows", async () => {
    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqCluster",
        metadata: { name: "src" },
        spec: { replicas: 3, image: IMAGE },
      }),
    });
    await converged("src");
    const { leader } = await status("src");
    await createRowsTable(ns, leader!);
    await createItemsTable(ns, leader!);
    await writeItems(ns, leader!, nextId, 100);
    nextId += 100;
  });

  it("enabling spec.backup rolls every Pod onto -auto-backup without breaking quorum or losing a row", async () => {
    await monitoredChange(
      { name: "enable backups", client, namespace: ns, cluster: "src", acked, podsAfter: () => SRC, figures },
      async () => {
        await kubectl([
          "patch",
          "rqc",
          "src",
          "--type=merge",
          "-p",
          JSON.stringify({
            spec: {
              backup: { s3: { ...s3Spec(), path: PATH }, interval: "2s", retention: { keepLast: KEEP_LAST } },
            },
          }),
        ]);
        await converged("src", async () => {
          const pods = JSON.parse(await kubectl(["get", "pods", "-l", "rqlite.io/cluster=src", "-o", "json"])) as {
            items: V1Pod[];
          };
          return (
            pods.items.length === 3 &&
            pods.items.every((p) => argsOf(p).includes("-auto-backup=/rqlite/backup/auto-backup.json"))
          );
        });
      },
    );
    const secret = JSON.parse(await kubectl(["get", "secret", "src-backup-config", "-o", "json"])) as {
      data: Record<string, string>;
    };
    const config = Buffer.from(secret.data["auto-backup.json"]!, "base64").toString();
    assert.ok(config.includes("$RQLITE_BACKUP_ACCESS_KEY_ID"), config);
    assert.ok(!config.includes(s3.credentials.secretAccessKey), "no credential is written into the config Secret");
  });

  it(`uploads timestamped objects while rows change, and retention keeps the newest ${KEEP_LAST}`, async () => {
    let last: BackupClusterStatus | undefined;
    // The listing that met the condition: a fresh one could already hold the next upload (every
    // 2 s), which retention deletes only at its next pass.
    let listed: Awaited<ReturnType<typeof uploads>> = [];
    await eventuallyWithin(
      `more than ${KEEP_LAST} uploads seen, at most ${KEEP_LAST} left, and status.backup recording them`,
      async () => {
        const { leader } = await status("src");
        if (leader)
          await writeItems(ns, leader, nextId, 10).then(
            () => (nextId += 10),
            () => undefined,
          );
        const now = await uploads();
        listed = now;
        now.forEach((o) => seen.add(o.key));
        last = await status("src");
        return (
          seen.size > KEEP_LAST + 1 &&
          now.length <= KEEP_LAST &&
          last.backup?.retainedObjects === KEEP_LAST &&
          last.backup.lastSuccessfulTime !== undefined
        );
      },
      240_000,
      { intervalMs: 1500, state: () => ({ seen: [...seen], status: last?.backup }) },
    );
    const left = listed.map((o) => o.key).sort();
    figures.uploadsSeen = String(seen.size);
    figures.uploadsLeft = left.join(", ");
    assert.ok(seen.size >= 3, `at least 3 timestamped objects appeared (${seen.size})`);
    assert.ok(left.length <= KEEP_LAST && left.length > 0, `left: ${left.join(", ")}`);
    // What retention deleted is older than everything it kept: the names sort by their UTC stamp.
    const newerThanOldestKept = [...seen].filter((k) => k >= left[0]!).sort();
    assert.deepEqual(left, newerThanOldestKept, "retention deleted only the oldest uploads");
  });

  it("restores the newest upload into a new cluster: rows written = rows read, same checksum on every node", async () => {
    const { leader } = await status("src");
    const node = rqliteNode(ns, leader!);
    await writeItems(ns, leader!, nextId, 25);
    nextId += 25;
    // The upload after the last write holds it: wait for the leader's next successful upload.
    const before = (await node.uploadCounts()).ok;
    await eventually(
      "the leader's next upload, which holds the last write",
      async () => (await node.uploadCounts()).ok > before,
    );
    const source = await digest(ns, leader!);
    const sourceAcked = await digest(ns, leader!, ROWS_TABLE, "v");
    assert.equal(source.rows, nextId - 1, "every row written is on the source's leader");
    figures.sourceRows = `${source.rows} items (sha256 ${source.sha256.slice(0, 16)}), ${sourceAcked.rows} acked`;

    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqCluster",
        metadata: { name: "dst" },
        spec: { replicas: 3, image: IMAGE, restore: { s3: { ...s3Spec(), path: "scheduled", key: "latest" } } },
      }),
    });
    const last = await waitRestoredAndAvailable(stack.cp, ns, "dst");
    const newest = (await uploads()).sort((a, b) => b.lastModified - a.lastModified || (a.key < b.key ? 1 : -1))[0]!;
    assert.equal(last.restore?.location, `s3://${BUCKET}/${newest.key}`);
    assert.match(condition(last, "Restored")!.message!, new RegExp(`restored from s3://${BUCKET}/${newest.key}`));
    for (const pod of DST) {
      assert.deepEqual(await digest(ns, pod), source, `${pod} holds every row of the source, in order`);
      assert.deepEqual(await digest(ns, pod, ROWS_TABLE, "v"), sourceAcked, `${pod} holds the acknowledged rows`);
    }
    figures.restoredRows = `${source.rows} items on each of ${DST.join(", ")}, checksums equal`;
    // And it takes writes, which reach every node.
    const { leader: dstLeader } = await status("dst");
    await writeItems(ns, dstLeader!, nextId, 5);
    await assertRowsOnEveryNode(ns, DST, []);
    await assertRowsOnEveryNode(ns, SRC, acked);
  });

  it("S3 down: status.backup.lastFailure says so, and uploads resume when it is back", async () => {
    const before = await status("src");
    await s3.stop();
    try {
      let last: BackupClusterStatus | undefined;
      await eventuallyWithin(
        "a failed upload in status.backup.lastFailure",
        async () => {
          const { leader } = await status("src");
          if (leader)
            await writeItems(ns, leader, nextId, 1).then(
              () => (nextId += 1),
              () => undefined,
            );
          last = await status("src");
          const failure = last.backup?.lastFailure;
          return failure?.time !== undefined && failure.time !== before.backup?.lastFailure?.time && failure;
        },
        120_000,
        { intervalMs: 1000, state: () => last?.backup },
      );
      figures.s3DownFailure = last!.backup!.lastFailure!.message!;
      assert.match(last!.backup!.lastFailure!.message!, /auto-backup upload failed|could not connect/);
    } finally {
      await s3.start();
    }
    const failedAt = (await status("src")).backup!.lastSuccessfulTime!;
    await eventually("a successful upload again", async () => {
      const { leader } = await status("src");
      if (leader)
        await writeItems(ns, leader, nextId, 1).then(
          () => (nextId += 1),
          () => undefined,
        );
      const s = await status("src");
      return Date.parse(s.backup?.lastSuccessfulTime ?? "") > Date.parse(failedAt);
    });
  });
});
