// Backup benchmark: a database of BACKUP_BENCH_MB MiB (default 1024) goes through an RqBackup to
// the real S3 server (versitygw), on the real controller and a real rqlited. It prints:
// - throughput of the RqBackup (startedAt -> completedAt) as a ratio to `curl /db/backup > file`
//   run against the same node in the same run (target at least 0.8x), and as a ratio to an SDK
//   upload of that same file to the same S3 server (the S3 path's own cost);
// - the leading controller's RSS growth during the backup, sampled from /proc every 100 ms
//   (target under 50 MB: the stream is not buffered);
// - the time to restore the backup into a new cluster (spec.restore.backup) until it is
//   Available with every row, when the operator supports restores.
// Figures only, no assertions.
//
//   npm run bench:backup                 # 1 GiB
//   BACKUP_BENCH_MB=64 npm run bench:backup
//
// The database is built with the sqlite3 command (random 1000-byte blobs, so compression cannot
// flatter anything) and loaded with rqlite's /boot, made for large single-node loads: the cluster
// has one node. The backup is binary and uncompressed, byte for byte what curl fetches.
import { execFile } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { createReadStream } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { performance } from "node:perf_hooks";
import { startLocalStack, type LocalStack } from "../local/stack.js";
import { startControlPlane, type ControlPlane } from "../testenv/controlplane.js";
import { loopbackAddress } from "../shared/loopback-address.js";
import { eventually } from "../testenv/eventually.js";
import { startS3Server, S3_SERVER, type S3TestServer } from "../testenv/s3.js";
import { memoryOf } from "./procstats.js";
import { Upload } from "@aws-sdk/lib-storage";
import { partSizeFor, QUEUE_SIZE } from "../controller/rqbackup/transfer.js";
import { runBench } from "./run.js";

const run = promisify(execFile);
const MB = 1024 * 1024;
const SIZE_MB = Number(process.env.BACKUP_BENCH_MB ?? 1024);
const NS = "bench-backup";
const BUCKET = "bench";
const ROW_BYTES = 1000;

const log = (msg: string) => console.log(`bench:backup: ${msg}`);
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

/** POSTs a file as the body (rqlite's /boot), streaming it. */
function postFile(url: string, file: string, size: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", headers: { "Content-Type": "application/octet-stream", "Content-Length": String(size) } },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`POST ${url}: HTTP ${res.statusCode}: ${body}`)),
        );
      },
    );
    req.on("error", reject);
    createReadStream(file).pipe(req);
  });
}

async function main(): Promise<void> {
  if (!(SIZE_MB > 0)) throw new Error(`BACKUP_BENCH_MB=${process.env.BACKUP_BENCH_MB}: expected a number of MiB`);
  const dir = await mkdtemp(join(tmpdir(), "bench-backup-"));
  let stack: LocalStack | undefined;
  let cp: ControlPlane | undefined;
  let s3: S3TestServer | undefined;
  const figures: Record<string, unknown> = { sizeMiB: SIZE_MB, s3Server: `${S3_SERVER.name} ${S3_SERVER.version}` };
  try {
    const dbFile = join(dir, "bench.sqlite");
    const rows = Math.ceil((SIZE_MB * MB) / (ROW_BYTES + 24));
    log(`building a ${SIZE_MB} MiB database (${rows} rows) with sqlite3`);
    await run("sqlite3", [
      dbFile,
      `PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; CREATE TABLE items (id INTEGER PRIMARY KEY, v BLOB);
       WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${rows})
       INSERT INTO items SELECT x, randomblob(${ROW_BYTES}) FROM c;`,
    ]);
    const dbBytes = (await stat(dbFile)).size;
    figures.databaseBytes = dbBytes;

    // The namespace exists before the stack starts: its webhook is registered for it alone.
    [s3, cp] = await Promise.all([startS3Server({ buckets: [BUCKET] }), startControlPlane()]);
    await cp.kubectlOk(["create", "namespace", NS]);
    stack = await startLocalStack({
      controlPlane: cp,
      namespaces: [NS],
      // The S3 server listens on loopback, which the operator refuses unless allowed.
      s3EndpointAllow: "127.0.0.1/32",
      controllerArgs: ["--leader-election-id=rqlite-operator-bench-backup"],
    });
    const kubectl = (args: string[], input?: string) => cp!.kubectlOk([...args, "-n", NS], input ? { input } : {});
    await kubectl([
      "create",
      "secret",
      "generic",
      "s3",
      `--from-literal=AWS_ACCESS_KEY_ID=${s3.credentials.accessKeyId}`,
      `--from-literal=AWS_SECRET_ACCESS_KEY=${s3.credentials.secretAccessKey}`,
    ]);
    const apply = (obj: unknown) => kubectl(["apply", "-f", "-"], JSON.stringify(obj));
    await apply({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: "big" },
      spec: { replicas: 1, image: "rqlite/rqlite:8.43.4", storage: { size: `${Math.ceil(SIZE_MB / 1024) * 4}Gi` } },
    });
    const status = async (kind: string, name: string) =>
      (JSON.parse(await kubectl(["get", kind, name, "-o", "json"])) as { status?: Record<string, unknown> }).status ??
      {};
    await eventually(
      "RqCluster big Available",
      async () =>
        ((await status("rqcluster", "big")).conditions as { type: string; status: string }[] | undefined)?.some(
          (c) => c.type === "Available" && c.status === "True",
        ),
      300_000,
      { intervalMs: 500 },
    );
    const node = `http://${loopbackAddress(NS, "big-0")}:4001`;
    let t = performance.now();
    await postFile(`${node}/boot`, dbFile, dbBytes);
    const bootSeconds = round((performance.now() - t) / 1000);
    figures.bootSeconds = bootSeconds;
    log(`loaded through /boot in ${bootSeconds} s`);

    // The baseline: curl, against the same node, to a file.
    t = performance.now();
    await run("curl", ["-sSf", "-o", join(dir, "curl.sqlite"), `${node}/db/backup`]);
    const curlSeconds = (performance.now() - t) / 1000;
    const curlBytes = (await stat(join(dir, "curl.sqlite"))).size;
    figures.curl = { seconds: round(curlSeconds), MiBps: round(curlBytes / MB / curlSeconds) };
    log(`curl /db/backup: ${curlBytes} bytes in ${round(curlSeconds)} s`);

    // The S3 path alone: the same bytes from a local file to the same server, with the SDK and the
    // part size and queue the operator uses. Where the RqBackup's time goes, beside rqlite's.
    const s3Client = s3.client();
    t = performance.now();
    await new Upload({
      client: s3Client,
      params: { Bucket: BUCKET, Key: "floor.sqlite", Body: createReadStream(join(dir, "curl.sqlite")) },
      partSize: partSizeFor(curlBytes, "binary"),
      queueSize: QUEUE_SIZE,
    }).done();
    const floorSeconds = (performance.now() - t) / 1000;
    s3Client.destroy();
    await rm(join(dir, "curl.sqlite"));
    figures.s3UploadOfTheSameFile = {
      seconds: round(floorSeconds),
      MiBps: round(curlBytes / MB / floorSeconds),
      partMiB: partSizeFor(curlBytes, "binary") / MB,
      queue: QUEUE_SIZE,
    };

    // The leading controller's RSS, sampled while the backup runs.
    const leader = await eventually(
      "a leading controller",
      async () => {
        for (const c of stack!.controllers) if (await c.isLeader().catch(() => false)) return c;
        return undefined;
      },
      60_000,
    );
    const pid = leader.proc.child.pid!;
    const rssBefore = memoryOf(pid).rssBytes;
    let rssMax = rssBefore;
    const sampler = setInterval(() => {
      try {
        rssMax = Math.max(rssMax, memoryOf(pid).rssBytes);
      } catch {
        // The process went; the figures say so by their absence.
      }
    }, 100);
    await apply({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqBackup",
      metadata: { name: "big" },
      spec: {
        cluster: "big",
        format: "binary",
        compress: false,
        destination: {
          s3: {
            bucket: BUCKET,
            endpoint: s3.endpoint,
            forcePathStyle: true,
            credentialsSecret: { name: "s3" },
          },
        },
      },
    });
    const done = await eventually(
      "RqBackup big finished",
      async () => {
        const s = await status("rqbackup", "big");
        return (s.phase === "Completed" || s.phase === "Failed") && s;
      },
      3_600_000,
      { intervalMs: 250 },
    );
    clearInterval(sampler);
    if (done.phase !== "Completed") throw new Error(`the RqBackup failed: ${String(done.reason)}`);
    const backupSeconds = (Date.parse(done.completedAt as string) - Date.parse(done.startedAt as string)) / 1000;
    figures.rqbackup = {
      seconds: round(backupSeconds),
      bytes: done.size,
      MiBps: round((done.size as number) / MB / backupSeconds),
      attempts: done.attempts,
    };
    figures.throughputRatioToCurl = round(curlSeconds / backupSeconds);
    figures.throughputRatioToS3Upload = round(floorSeconds / backupSeconds);
    figures.controllerRssMB = {
      before: round(rssBefore / MB, 1),
      peakDuring: round(rssMax / MB, 1),
      growth: round((rssMax - rssBefore) / MB, 1),
    };
    log(`RqBackup: ${String(done.size)} bytes in ${round(backupSeconds)} s`);

    // Restore into a new cluster, when the operator can.
    const crd = await cp.kubectl(["explain", "rqcluster.spec.restore"]);
    if (crd.code !== 0) {
      figures.restore = "not measured: this operator version has no spec.restore";
    } else {
      t = performance.now();
      await apply({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqCluster",
        metadata: { name: "restored" },
        spec: {
          replicas: 1,
          image: "rqlite/rqlite:8.43.4",
          storage: { size: `${Math.ceil(SIZE_MB / 1024) * 4}Gi` },
          restore: { backup: "big" },
        },
      });
      const restoredNode = `http://${loopbackAddress(NS, "restored-0")}:4001`;
      const count = await eventually(
        "the restored cluster holds every row",
        async () => {
          const res = await fetch(`${restoredNode}/db/query?q=${encodeURIComponent("SELECT COUNT(*) FROM items")}`);
          const body = (await res.json()) as { results?: { values?: number[][] }[] };
          const n = body.results?.[0]?.values?.[0]?.[0];
          return n === rows && n;
        },
        3_600_000,
        { intervalMs: 500 },
      );
      figures.restore = { seconds: round((performance.now() - t) / 1000), rows: count };
    }
  } finally {
    console.log(JSON.stringify(figures, null, 2));
    await stack?.stop();
    await cp?.stop();
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

runBench("backup", main);
