// Restoring into a new cluster end to end (issue 10): spec.restore names an object in a real
// S3-compatible server (versitygw, testenv/s3.ts). A key that does not exist, or credentials the
// server refuses, give phase Failed with the cause and no node at all, never an empty cluster
// marked Available. A real backup (rqlite's GET /db/backup, gzipped) restores into three founding
// voters through rqlite's -auto-restore with every row on every node; a later roll of the
// restored cluster, under the invariant monitor, keeps its own writes (no node loads the backup
// again, as its data is there).
import { strict as assert } from "node:assert";
import { gzipSync } from "node:zlib";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import type { V1Pod } from "@kubernetes/client-node";
import type { KubeClient } from "../../controller/runtime/kubeClient.js";
import type { LocalStack } from "../../local/stack.js";
import { RQLITE_CONTAINER } from "../../shared/names.js";
import { eventually as eventuallyWithin } from "../../testenv/eventually.js";
import type { S3TestServer } from "../../testenv/s3.js";
import {
  clusterStatus,
  condition,
  createCredentialsSecret,
  createItemsTable,
  digest,
  waitRestoredAndAvailable,
  writeItems,
  type BackupClusterStatus,
} from "./backupData.js";
import { eventMessages, waitConverged } from "./clusterStatus.js";
import { monitoredChange } from "./monitoredChange.js";
import { createRowsTable, rqliteNode, type AckedRow } from "./rows.js";
import { S3_CREDENTIALS, useS3Stack } from "./s3Stack.js";

const IMAGE = "rqlite/rqlite:8.43.4";
const BUCKET = "restores";
const KEY = "manual/orig.sqlite.gz";
const NEW = ["copy-0", "copy-1", "copy-2"];
const argsOf = (p: V1Pod) => p.spec?.containers.find((c) => c.name === RQLITE_CONTAINER)?.args ?? [];

describe("restore into a new cluster from S3", function () {
  this.timeout(900_000);
  let s3: S3TestServer;
  let stack: LocalStack;
  let client: KubeClient;
  let ns: string;
  const acked: AckedRow[] = [];
  const figures: Record<string, string> = {};
  let source: { rows: number; sha256: string };

  const kubectl = (args: string[]) => stack.cp.kubectlOk([...args, "-n", ns]);
  const status = (name: string) => clusterStatus(stack.cp, ns, name);
  const create = (name: string, spec: object) =>
    stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({ apiVersion: "rqlite.io/v1alpha1", kind: "RqCluster", metadata: { name }, spec }),
    });
  const restoreFrom = (key: string, secret = S3_CREDENTIALS) => ({
    replicas: 3,
    image: IMAGE,
    restore: {
      s3: { bucket: BUCKET, endpoint: s3.endpoint, forcePathStyle: true, credentialsSecret: { name: secret }, key },
    },
  });
  const podsOf = async (name: string) =>
    (JSON.parse(await kubectl(["get", "pods", "-l", `rqlite.io/cluster=${name}`, "-o", "json"])) as { items: V1Pod[] })
      .items;
  const converged = (name: string, also?: () => Promise<boolean>) => waitConverged(stack.cp, ns, name, 3, also);

  /** Waits until the cluster is Failed for the restore, then checks it stays so, with no node, for a while. */
  async function failsWithoutNodes(name: string, cause: RegExp): Promise<BackupClusterStatus> {
    let last: BackupClusterStatus | undefined;
    await eventuallyWithin(
      `${name} Failed with the restore's cause`,
      async () => {
        last = await status(name);
        return last.phase === "Failed" && condition(last, "Restored")?.reason === "RestoreSourceUnavailable";
      },
      60_000,
      { intervalMs: 500, state: () => last },
    );
    for (let i = 0; i < 10; i++) {
      const s = await status(name);
      assert.equal(s.phase, "Failed");
      assert.notEqual(condition(s, "Available")?.status, "True", "never Available without its data");
      assert.deepEqual(await podsOf(name), [], "no node is created while the source cannot be read");
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.match(condition(last!, "Restored")!.message!, cause);
    return last!;
  }

  useS3Stack("restore", BUCKET, figures, (env) => ({ s3, stack, client, ns } = env));

  before(async () => {
    await createCredentialsSecret(stack.cp, ns, "wrong-credentials", {
      accessKeyId: s3.credentials.accessKeyId,
      secretAccessKey: "not-the-secret-key",
    });
  });

  it("takes a backup of a cluster with rows and puts it in S3 (gzipped, as rqlite's compress does)", async () => {
    await create("orig", { replicas: 1, image: IMAGE });
    let last: unknown;
    await eventuallyWithin(
      "orig Running with a leader",
      async () => {
        const s = await status("orig");
        last = s;
        return s.phase === "Running" && s.leader;
      },
      120_000,
      { intervalMs: 500, state: () => last },
    );
    await createItemsTable(ns, "orig-0");
    await createRowsTable(ns, "orig-0");
    for (let from = 1; from <= 500; from += 100) await writeItems(ns, "orig-0", from, 100);
    source = await digest(ns, "orig-0");
    assert.equal(source.rows, 500);
    const file = await rqliteNode(ns, "orig-0", 30_000).backup();
    const c = s3.client();
    try {
      await c.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: gzipSync(file) }));
    } finally {
      c.destroy();
    }
    figures.backup = `${file.length} bytes SQLite, ${source.rows} rows, sha256 ${source.sha256.slice(0, 16)}`;
  });

  it("a key that does not exist: Failed with the cause, no node, never Available", async () => {
    await create("missing", restoreFrom("manual/nope.sqlite.gz"));
    const s = await failsWithoutNodes("missing", /s3:\/\/restores\/manual\/nope\.sqlite\.gz does not exist/);
    figures.missingKey = condition(s, "Restored")!.message!;
    const events = await eventMessages(stack.cp, ns, "RestoreSourceUnavailable");
    assert.ok(
      events.some((e) => e.startsWith("Warning: cannot restore")),
      events.join("\n"),
    );
  });

  it("credentials the server refuses: Failed with access denied, no node", async () => {
    await create("denied", restoreFrom(KEY, "wrong-credentials"));
    const s = await failsWithoutNodes("denied", /access denied .*check the credentials Secret/);
    figures.badCredentials = condition(s, "Restored")!.message!;
  });

  it("a credentials Secret that does not exist: Failed, naming it", async () => {
    await create("nosecret", restoreFrom(KEY, "no-such-secret"));
    await failsWithoutNodes("nosecret", /Secret .*\/no-such-secret .*does not exist/);
  });

  it("spec.restore cannot be added to, changed on, or removed from an existing cluster", async () => {
    const change = await stack.cp.kubectl([
      "patch",
      "rqc",
      "missing",
      "-n",
      ns,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { restore: { s3: { key: KEY } } } }),
    ]);
    assert.notEqual(change.code, 0);
    assert.match(change.stderr, /spec\.restore: Forbidden: may not be changed or removed/);
    const add = await stack.cp.kubectl([
      "patch",
      "rqc",
      "orig",
      "-n",
      ns,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { restore: { backup: "nightly" } } }),
    ]);
    assert.notEqual(add.code, 0);
    assert.match(add.stderr, /spec\.restore: Forbidden: may be set only when the cluster is created/);
  });

  it("restores the object into three founding voters: rows written = rows read, same checksum on each", async () => {
    const started = Date.now();
    await create("copy", restoreFrom(KEY));
    const last = await waitRestoredAndAvailable(stack.cp, ns, "copy");
    figures.restoreSeconds = ((Date.now() - started) / 1000).toFixed(1);
    assert.equal(last.restore?.location, `s3://${BUCKET}/${KEY}`);
    assert.equal(condition(last, "Restored")!.message, `restored from s3://${BUCKET}/${KEY}`);
    for (const pod of NEW) assert.deepEqual(await digest(ns, pod), source, `${pod} holds every row, in order`);
    figures.restored = `${source.rows} rows on each of ${NEW.join(", ")}, checksums equal`;
    for (const pod of await podsOf("copy"))
      assert.ok(argsOf(pod).includes("-auto-restore=/rqlite/backup/auto-restore.json"), pod.metadata!.name);
  });

  it("restores from a Completed RqBackup by name (spec.restore.backup)", async () => {
    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqBackup",
        metadata: { name: "orig-once" },
        spec: {
          cluster: "orig",
          destination: {
            s3: {
              bucket: BUCKET,
              path: "oneshot",
              endpoint: s3.endpoint,
              forcePathStyle: true,
              credentialsSecret: { name: S3_CREDENTIALS },
            },
          },
        },
      }),
    });
    let backup: { status?: { phase?: string; location?: string; reason?: string; completedAt?: string } } = {};
    await eventuallyWithin(
      "RqBackup orig-once Completed",
      async () => {
        backup = JSON.parse(await kubectl(["get", "rqb", "orig-once", "-o", "json"])) as typeof backup;
        return backup.status?.phase === "Completed";
      },
      180_000,
      { intervalMs: 500, state: () => backup.status },
    );
    await create("fromrqb", { replicas: 3, image: IMAGE, restore: { backup: "orig-once" } });
    const last = await waitRestoredAndAvailable(stack.cp, ns, "fromrqb");
    assert.equal(last.restore?.location, backup.status!.location);
    assert.equal(condition(last, "Restored")!.message, `restored from ${backup.status!.location} (RqBackup orig-once)`);
    for (const pod of ["fromrqb-0", "fromrqb-1", "fromrqb-2"])
      assert.deepEqual(await digest(ns, pod), source, `${pod} holds every row, in order`);
    figures.fromRqBackup = `${backup.status!.location}: ${source.rows} rows on each of 3 nodes, checksums equal`;
    // The backed-up cluster records it as its last successful backup.
    const completed = backup.status!.completedAt!.replace(/\.\d+Z$/, "Z");
    let orig: BackupClusterStatus | undefined;
    await eventuallyWithin(
      "orig's status.backup.lastSuccessfulTime from the Completed RqBackup",
      async () => {
        orig = await status("orig");
        return orig.backup?.lastSuccessfulTime === completed;
      },
      150_000,
      { intervalMs: 1000, state: () => orig?.backup },
    );
  });

  it("a roll of the restored cluster keeps its own writes: no node loads the backup again", async () => {
    await monitoredChange(
      { name: "roll restored", client, namespace: ns, cluster: "copy", acked, podsAfter: () => NEW, figures },
      async () => {
        await kubectl([
          "patch",
          "rqc",
          "copy",
          "--type=merge",
          "-p",
          JSON.stringify({ spec: { podTemplate: { metadata: { annotations: { "example.com/rolled": "yes" } } } } }),
        ]);
        await converged("copy", async () =>
          (await podsOf("copy")).every((p) => p.metadata?.annotations?.["example.com/rolled"] === "yes"),
        );
      },
    );
    const { leader } = await status("copy");
    const after = await digest(ns, leader!);
    assert.equal(after.rows, source.rows, "the restored rows are all still there after the roll");
  });
});
