// The RqBackup transfer on real parts, without the control plane: rqlited's GET /db/backup read
// as a stream from a real leader goes to the real S3 server (versitygw) by multipart upload.
// What lands is downloaded and opened with the sqlite3 command, and compared row by row.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { GetObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { MIN_PART_SIZE, SourceError, transfer } from "../../controller/rqbackup/transfer.js";
import { startRqliteCluster, type RqliteTestCluster } from "../../testenv/rqlited.js";
import { startS3Server, type S3TestServer } from "../../testenv/s3.js";

const run = promisify(execFile);
const BUCKET = "rqlite-backups";
const ROWS = 20_000;

/** sqlite3 on a file: the rows of `items` in id order, and their sha256. */
async function sqliteRows(file: string): Promise<{ count: number; sha256: string }> {
  const { stdout } = await run("sqlite3", [file, "SELECT id, v FROM items ORDER BY id"], { maxBuffer: 1 << 28 });
  return { count: stdout.trim().split("\n").filter(Boolean).length, sha256: sha(stdout) };
}
const sha = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

describe("RqBackup transfer: real rqlited to a real S3 server", function () {
  this.timeout(180_000);
  let rq: RqliteTestCluster;
  let s3: S3TestServer;
  let dir: string;
  let expected: { count: number; sha256: string };

  before(async () => {
    [rq, s3] = await Promise.all([startRqliteCluster({ size: 3 }), startS3Server({ buckets: [BUCKET] })]);
    dir = await mkdtemp(join(tmpdir(), "rqbackup-"));
    const leader = await rq.leader();
    const c = rq.client(leader.id, { timeoutMs: 30_000 });
    await c.execute(["CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)"]);
    // Rows big enough that the backup spans several 8 MiB parts (about 20 MB).
    for (let i = 0; i < ROWS; i += 500) {
      const batch = Array.from({ length: 500 }, (_, j): [string, number, string] => [
        "INSERT INTO items(id, v) VALUES(?, ?)",
        i + j + 1,
        `${i + j + 1}-${randomBytes(500).toString("hex")}`,
      ]);
      await c.execute(batch, { transaction: true });
    }
    const rows = await c.query("SELECT id, v FROM items ORDER BY id", { level: "strong", timeoutMs: 30_000 });
    expected = { count: rows.length, sha256: sha(rows.map((r) => `${String(r.id)}|${String(r.v)}\n`).join("")) };
  });

  after(async () => {
    await Promise.all([rq?.stop(), s3?.close(), dir && rm(dir, { recursive: true, force: true })]);
  });

  const download = async (key: string) => {
    const c = s3.client();
    const got = await c.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    const body = Buffer.from(await got.Body!.transformToByteArray());
    c.destroy();
    return body;
  };

  for (const compress of [false, true]) {
    it(`streams a ${compress ? "compressed" : "plain"} binary backup from the leader to S3 in parts; sqlite3 reads every row`, async () => {
      const leader = await rq.leader();
      const key = `it/binary${compress ? ".gz" : ""}`;
      const stream = await rq.client(leader.id).backupStream({ compress });
      const client = s3.client();
      const done = await transfer(stream, { s3: client, bucket: BUCKET, key }, { format: "binary", compress });
      client.destroy();
      const body = await download(key);
      assert.equal(body.length, done.size, "status size = bytes in S3");
      assert.equal(sha(body), done.sha256, "status sha256 = sha256 of the object");
      assert.ok(done.size > MIN_PART_SIZE, `the backup spans more than one part (${done.size} bytes)`);
      const file = join(dir, `binary-${compress}.sqlite`);
      await writeFile(file, compress ? gunzipSync(body) : body);
      assert.deepEqual(await sqliteRows(file), expected, "rows and checksum as in the cluster");
    });
  }

  it("streams a sql backup that sqlite3 loads with every row", async () => {
    const leader = await rq.leader();
    const stream = await rq.client(leader.id).backupStream({ format: "sql", compress: false });
    const client = s3.client();
    const done = await transfer(
      stream,
      { s3: client, bucket: BUCKET, key: "it/dump.sql" },
      { format: "sql", compress: false },
    );
    client.destroy();
    const body = await download("it/dump.sql");
    assert.equal(sha(body), done.sha256);
    const file = join(dir, "from-sql.sqlite");
    await writeFile(join(dir, "dump.sql"), body);
    await run("sqlite3", [file, `.read ${join(dir, "dump.sql")}`]);
    assert.deepEqual(await sqliteRows(file), expected);
  });

  it("fails, leaving no object, when the S3 server goes away mid-transfer", async () => {
    const leader = await rq.leader();
    const stream = await rq.client(leader.id).backupStream({ compress: false });
    const client = s3.client();
    const key = "it/cut-by-s3";
    const failed = assert.rejects(
      transfer(stream, { s3: client, bucket: BUCKET, key }, { format: "binary", compress: false }),
      (err: Error) => !(err instanceof SourceError) && /ECONNREFUSED|socket|connect/i.test(err.message),
    );
    await s3.stop();
    await failed;
    await s3.start();
    await assert.rejects(client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })), /NotFound|404/);
    client.destroy();
  });

  it("fails, leaving no object, when the leader dies mid-answer", async () => {
    const leader = await rq.leader();
    const stream = await rq.client(leader.id).backupStream({ compress: false });
    const client = s3.client();
    const key = "it/cut-by-leader";
    // Slow the reader down so the kill lands mid-stream.
    stream.body.pause();
    // Awaited only after the kill, so its rejection is handled from the start: it can come first.
    const failed = assert.rejects(
      transfer(stream, { s3: client, bucket: BUCKET, key }, { format: "binary", compress: false }),
      (err: Error) => err instanceof SourceError,
    );
    await rq.kill(leader.id);
    await failed;
    await assert.rejects(client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })), /NotFound|404/);
    client.destroy();
    await rq.restart(leader.id);
  });
});
