// RqBackup end to end: the real controller (two replicas, as its ServiceAccount) takes one-shot
// backups of a 3-node cluster of real rqlited processes and streams them to a real S3 server
// (versitygw, testenv/s3.ts). Each backup runs under the invariant monitor with a writer; what
// lands in S3 is downloaded with the SDK and opened with the sqlite3 command, and its rows and
// the checksum of SELECT ... ORDER BY id are compared with the cluster's.
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import type { RqBackupStatus } from "../../controller/rqbackup/types.js";
import type { KubeClient } from "../../controller/runtime/kubeClient.js";
import type { LocalStack } from "../../local/stack.js";
import type { ControllerProcess } from "../../testenv/controller.js";
import { eventually as eventuallyWithin } from "../../testenv/eventually.js";
import { startS3Server, S3_SERVER, type S3TestServer } from "../../testenv/s3.js";
import { eventMessages, isAvailable, isConverged, readCluster } from "./clusterStatus.js";
import { monitoredChange } from "./monitoredChange.js";
import { startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";
import { checkBackupFile, clusterItems } from "./backupFile.js";
import { createRowsTable, rqliteNode, seedItems, type AckedRow } from "./rows.js";

const eventually = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 120_000) =>
  eventuallyWithin(what, check, timeoutMs, { intervalMs: 250 });

const CLUSTER = "bk";
const PODS = ["bk-0", "bk-1", "bk-2"];
const BUCKET = "rqlite-backups";
const CREDS = "s3-creds";
/** Rows of about 1 KB in `items`: a backup of some 100 MB that takes a second or two to stream. */
const ROWS = 100_000;

describe("RqBackup: one-shot backups to a real S3 server", function () {
  this.timeout(600_000);
  let env: ScheduledEnv;
  let stack: LocalStack;
  let client: KubeClient;
  let s3: S3TestServer;
  let ns: string;
  let dir: string;
  const acked: AckedRow[] = [];
  const figures: Record<string, string> = {};

  const kubectl = (args: string[], input?: string) =>
    stack.cp.kubectlOk([...args, "-n", ns], input === undefined ? {} : { input });
  const backupStatus = async (name: string): Promise<RqBackupStatus> =>
    (JSON.parse(await kubectl(["get", "rqbackup", name, "-o", "json"])) as { status?: RqBackupStatus }).status ?? {};
  /** The status read straight from the API server, without kubectl's start-up time. */
  const fastStatus = async (name: string): Promise<RqBackupStatus> =>
    (
      await client.request<{ status?: RqBackupStatus }>({
        method: "GET",
        path: `/apis/rqlite.io/v1alpha1/namespaces/${ns}/rqbackups/${name}`,
      })
    ).status ?? {};
  const leaderPod = async () => (await readCluster(stack.cp, ns, CLUSTER)).status.leader!;

  const createBackup = (name: string, spec: Record<string, unknown>, credentials = CREDS) =>
    kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqBackup",
        metadata: { name },
        spec: {
          cluster: CLUSTER,
          destination: {
            s3: {
              bucket: BUCKET,
              path: "one-shot",
              endpoint: s3.endpoint,
              region: s3.region,
              forcePathStyle: true,
              credentialsSecret: { name: credentials },
            },
          },
          ...spec,
        },
      }),
    );
  const finished = (name: string, timeoutMs = 180_000) =>
    eventually(
      `RqBackup ${name} Completed or Failed`,
      async () => {
        const s = await backupStatus(name);
        return (s.phase === "Completed" || s.phase === "Failed") && s;
      },
      timeoutMs,
    );
  const download = async (location: string) => {
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(location)!;
    const c = s3.client();
    const got = await c.send(new GetObjectCommand({ Bucket: m[1], Key: m[2] }));
    const body = Buffer.from(await got.Body!.transformToByteArray());
    c.destroy();
    return body;
  };
  /** Downloads a backup and checks it against its status and the cluster (backupFile.ts). */
  const verifyBackup = async (
    label: string,
    status: RqBackupStatus,
    format: "binary" | "sql",
    compress: boolean,
    ackedBefore: AckedRow[],
  ) => {
    const { items, checksum, ackedRows } = await checkBackupFile({
      label,
      body: await download(status.location!),
      what: "the object",
      status,
      format,
      compress,
      ackedBefore,
      dir,
      itemsUpTo: async (maxId) => clusterItems(rqliteNode(ns, await leaderPod(), 60_000), maxId),
    });
    figures[label] =
      `${items} items (as in the cluster, checksum ${checksum.slice(0, 12)}), ${ackedRows} acked rows, ${status.size} bytes, sha256 ${status.sha256!.slice(0, 12)}, attempts ${status.attempts}, leader ${status.leader}`;
  };

  const change = (name: string, fn: Parameters<typeof monitoredChange>[1]) =>
    monitoredChange({ name, client, namespace: ns, cluster: CLUSTER, acked, podsAfter: () => PODS, figures }, fn);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "rqbackup-e2e-"));
    s3 = await startS3Server({ buckets: [BUCKET] });
    figures.s3Server = `${S3_SERVER.name} ${S3_SERVER.version} (${S3_SERVER.source})`;
    env = await startScheduledEnv({
      prefix: "rqbackup",
      // The S3 server listens on loopback, which the operator refuses unless allowed.
      s3EndpointAllow: "127.0.0.1/32",
      controllerArgs: ["--backup-retry-base-delay=1"],
    });
    ({ stack, client, ns } = env);
    await kubectl([
      "create",
      "secret",
      "generic",
      CREDS,
      `--from-literal=AWS_ACCESS_KEY_ID=${s3.credentials.accessKeyId}`,
      `--from-literal=AWS_SECRET_ACCESS_KEY=${s3.credentials.secretAccessKey}`,
    ]);
    await kubectl([
      "create",
      "secret",
      "generic",
      "bad-creds",
      "--from-literal=AWS_ACCESS_KEY_ID=nobody",
      "--from-literal=AWS_SECRET_ACCESS_KEY=wrong-secret",
    ]);
    await kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqCluster",
        metadata: { name: CLUSTER },
        spec: { replicas: 3, image: "rqlite/rqlite:8.43.4" },
      }),
    );
    await eventually("Available", async () => isAvailable((await readCluster(stack.cp, ns, CLUSTER)).status), 180_000);
    await eventually("3 members with a leader", async () => isConverged(await readCluster(stack.cp, ns, CLUSTER), 3));
    const leader = await leaderPod();
    await createRowsTable(ns, leader);
    const seeded = Date.now();
    await seedItems(rqliteNode(ns, leader, 30_000), ROWS, () => randomBytes(500).toString("hex"));
    figures.seed = `${ROWS} items in ${((Date.now() - seeded) / 1000).toFixed(1)} s`;
  });

  after(async () => {
    await env?.stop();
    await s3?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    console.log(`      figures: ${JSON.stringify(figures, null, 2)}`);
  });

  it("backs up the 3-node cluster while a writer runs: Completed, and sqlite3 reads every row", async () => {
    let status: RqBackupStatus = {};
    let before: AckedRow[] = [];
    await change("backup-binary", async () => {
      await new Promise((r) => setTimeout(r, 1500));
      before = [...acked];
      await createBackup("full", {});
      status = await finished("full");
      await new Promise((r) => setTimeout(r, 1000));
    });
    assert.equal(status.phase, "Completed", `reason: ${status.reason}`);
    assert.ok(PODS.includes(status.leader!), `taken from a node of the cluster (${status.leader})`);
    assert.equal(status.rqliteVersion, "v8.43.4");
    assert.match(status.location!, new RegExp(`^s3://${BUCKET}/one-shot/${ns}-full-\\d{8}T\\d{6}Z\\.sqlite\\.gz$`));
    await verifyBackup("binary", status, "binary", true, before);
    const completed = await eventually("a BackupCompleted Event", async () => {
      const messages = await eventMessages(stack.cp, ns, "BackupCompleted");
      return messages.length > 0 && messages;
    });
    assert.match(
      completed.join("\n"),
      new RegExp(`${status.size} bytes to ${status.location!.replace(/[.]/g, "\\.")}`),
    );
  });

  it("takes a sql backup that the sqlite3 command loads", async () => {
    let status: RqBackupStatus = {};
    const before = [...acked];
    await change("backup-sql", async () => {
      await createBackup("dump", { format: "sql", compress: false });
      status = await finished("dump");
    });
    assert.equal(status.phase, "Completed", `reason: ${status.reason}`);
    assert.match(status.location!, /\.sql$/);
    await verifyBackup("sql", status, "sql", false, before);
  });

  it("completes consistently while the leader changes mid-backup", async () => {
    // The move must land while the attempt streams, which takes a second or two: up to three
    // backups are tried, each moving leadership the moment its status says Running.
    const moves: string[] = [];
    let status: RqBackupStatus = {};
    let before: AckedRow[] = [];
    await change("backup-leader-change", async () => {
      for (let n = 1; n <= 3; n++) {
        const name = `moving-${n}`;
        before = [...acked];
        const from = await leaderPod();
        const to = PODS.find((p) => p !== from)!;
        await createBackup(name, { compress: false });
        await eventuallyWithin("the backup Running", async () => (await fastStatus(name)).phase, 60_000, {
          intervalMs: 20,
        });
        await rqliteNode(ns, from, 30_000).transferLeadership(to);
        const phaseAfterMove = (await fastStatus(name)).phase;
        status = await finished(name);
        // As rqlite says, not the RqCluster's status, which follows on the next reconcile.
        const newLeader = (await rqliteNode(ns, to, 10_000).leader())?.id;
        moves.push(
          `${name}: leader ${from} -> ${to} (now ${newLeader}); backup ${phaseAfterMove} when the move returned, ` +
            `then ${status.phase} from ${status.leader} after ${status.attempts} attempt(s)`,
        );
        if (phaseAfterMove === "Running" || (status.attempts ?? 0) > 1) break;
        await eventually("3 members with a leader", async () =>
          isConverged(await readCluster(stack.cp, ns, CLUSTER), 3),
        );
      }
    });
    figures.leaderMoves = moves.join("; ");
    assert.ok(
      moves.some((m) => /backup Running when the move returned|after [2-9] attempt/.test(m)),
      `a leadership move landed during a transfer: ${moves.join("; ")}`,
    );
    assert.equal(status.phase, "Completed", `reason: ${status.reason}`);
    await verifyBackup("leaderChange", status, "binary", false, before);
  });

  it("S3 down: Failed after retries with backoff, with a reason that names the server", async () => {
    let status: RqBackupStatus = {};
    await change("backup-s3-down", async () => {
      await s3.stop();
      try {
        await createBackup("s3-down", {});
        status = await finished("s3-down", 240_000);
      } finally {
        await s3.start();
      }
    });
    figures.s3Down = `${status.phase} after ${status.attempts} attempts: ${status.reason}`;
    assert.equal(status.phase, "Failed");
    assert.equal(status.attempts, 5, "every attempt was made");
    assert.match(status.reason!, new RegExp(`S3 at ${s3.endpoint.replace(/[.]/g, "\\.")}, bucket "${BUCKET}"`));
    // Only "could not connect": the socket's own error would tell a tenant what listens where.
    assert.match(status.reason!, /could not be written: could not connect; check that it is up/);
    assert.doesNotMatch(status.reason!, /ECONN/);
    assert.match(status.reason!, /gave up after 5 attempts/);
  });

  it("bad credentials: Failed at once with a reason that names the Secret to fix", async () => {
    let status: RqBackupStatus = {};
    await change("backup-bad-credentials", async () => {
      await createBackup("bad-creds", {}, "bad-creds");
      status = await finished("bad-creds");
    });
    figures.badCredentials = `${status.phase} after ${status.attempts} attempts: ${status.reason}`;
    assert.equal(status.phase, "Failed");
    assert.equal(status.attempts, 1, "no retry can fix credentials");
    assert.match(status.reason!, /refused the upload \((XAdminUserNotFound|InvalidAccessKeyId)/);
    assert.match(status.reason!, new RegExp(`Secret ${ns}/bad-creds`));
    const failed = await eventually("a BackupFailed Event", async () => {
      const messages = await eventMessages(stack.cp, ns, "BackupFailed");
      return messages.some((m) => m.includes("bad-creds")) && messages;
    });
    assert.ok(
      failed.includes(`Warning: ${status.reason}`),
      `the Event says what the status says: ${JSON.stringify(failed)}; status: ${status.reason}`,
    );
  });

  it("a cluster that does not exist: Failed at once, naming the RqCluster to create", async () => {
    let status: RqBackupStatus = {};
    await change("backup-no-cluster", async () => {
      await kubectl(
        ["apply", "-f", "-"],
        JSON.stringify({
          apiVersion: "rqlite.io/v1alpha1",
          kind: "RqBackup",
          metadata: { name: "no-cluster" },
          spec: {
            cluster: "nope",
            destination: {
              s3: { bucket: BUCKET, endpoint: s3.endpoint, forcePathStyle: true, credentialsSecret: { name: CREDS } },
            },
          },
        }),
      );
      status = await finished("no-cluster", 240_000);
    });
    figures.noCluster = `${status.phase} after ${status.attempts} attempts: ${status.reason}`;
    assert.equal(status.phase, "Failed");
    assert.equal(status.attempts, 1, "no retry can create the cluster");
    assert.match(
      status.reason!,
      new RegExp(
        `RqCluster ${ns}/nope \\(spec.cluster\\) does not exist; create it or fix spec.cluster, then create a new RqBackup$`,
      ),
    );
  });

  it("exports the backup metrics: last success per cluster, duration, bytes and attempts", async () => {
    const leader = await eventually("a leading controller", async () => {
      for (const c of stack.controllers) if (await c.isLeader().catch(() => false)) return c;
      return undefined;
    });
    const ctl: ControllerProcess = leader;
    const last = await ctl.samples("rqlite_operator_backup_last_success_timestamp_seconds");
    const mine = last.find((s) => s.labels.namespace === ns && s.labels.cluster === CLUSTER);
    const all = JSON.parse(await kubectl(["get", "rqbackups", "-o", "json"])) as {
      items: { spec: { cluster: string }; status?: RqBackupStatus }[];
    };
    const completedAt = Math.max(
      ...all.items.filter((b) => b.status?.phase === "Completed").map((b) => Date.parse(b.status!.completedAt!) / 1000),
    );
    assert.ok(
      mine && mine.value >= completedAt - 1,
      `last success ${mine?.value} >= the newest Completed RqBackup ${completedAt}`,
    );
    assert.ok((await ctl.counter("rqlite_operator_backup_bytes_total", { namespace: ns, cluster: CLUSTER })) > 0);
    const completed = await ctl.counter("rqlite_operator_backup_attempts_total", {
      namespace: ns,
      result: "completed",
    });
    assert.ok(completed >= 3, `${completed} completed attempts`);
    // Every attempt the statuses record that did not complete: 5 with S3 down, 1 with bad
    // credentials, and any that a leadership move cut short before a retry completed. A backup
    // of a missing cluster counts for no cluster.
    const failedInStatus = all.items
      .filter((b) => b.spec.cluster === CLUSTER)
      .reduce((sum, b) => sum + (b.status?.attempts ?? 0) - (b.status?.phase === "Completed" ? 1 : 0), 0);
    assert.ok(failedInStatus >= 6, `${failedInStatus} failed attempts in status`);
    assert.equal(
      await ctl.counter("rqlite_operator_backup_attempts_total", { namespace: ns, cluster: CLUSTER, result: "failed" }),
      failedInStatus,
    );
    assert.equal(
      await ctl.counter("rqlite_operator_backup_duration_seconds_count", { namespace: ns, result: "completed" }),
      completed,
    );
  });
});
