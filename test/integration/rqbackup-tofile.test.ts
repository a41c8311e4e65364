// The `pvc` RqBackup Job's entry point (controller/rqbackup/toFile.ts) against real rqlited: run
// as the Job runs it (a Node process with its arguments, the password and CA only in env), over
// HTTPS with -auth; the file it writes is opened with sqlite3 and equals the cluster, and its
// termination message carries the file's size and sha256. A leader killed during the backup leaves
// neither the file nor a temporary one, and the message says what failed.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { ENV_CA, ENV_PASSWORD } from "../../controller/rqbackup/job.js";
import { backupToFile } from "../../controller/rqbackup/toFile.js";
import { startRqliteCluster, type RqliteTestCluster } from "../../testenv/rqlited.js";

const run = promisify(execFile);
const sha = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const OPERATOR = { username: "rqlite-operator", password: "op-secret" };
const ROWS = 20_000;

async function sqliteRows(file: string): Promise<{ count: number; sha256: string }> {
  const { stdout } = await run("sqlite3", [file, "SELECT id, v FROM items ORDER BY id"], { maxBuffer: 1 << 28 });
  return { count: stdout.trim().split("\n").filter(Boolean).length, sha256: sha(stdout) };
}

describe("RqBackup toFile: the pvc Job's entry point against real rqlited (HTTPS, -auth)", function () {
  this.timeout(180_000);
  let rq: RqliteTestCluster;
  let dir: string;
  let expected: { count: number; sha256: string };

  before(async () => {
    rq = await startRqliteCluster({
      size: 1,
      tls: true,
      auth: { users: [{ ...OPERATOR, perms: ["all"] }], as: OPERATOR },
    });
    dir = await mkdtemp(join(tmpdir(), "rqbackup-tofile-"));
    const leader = await rq.leader();
    const c = rq.client(leader.id, { timeoutMs: 30_000 });
    await c.execute(["CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)"]);
    for (let i = 0; i < ROWS; i += 500) {
      await c.execute(
        Array.from({ length: 500 }, (_, j): [string, number, string] => [
          "INSERT INTO items(id, v) VALUES(?, ?)",
          i + j + 1,
          `${i + j + 1}-${randomBytes(500).toString("hex")}`,
        ]),
        { transaction: true },
      );
    }
    const file = join(dir, "reference.sqlite");
    const stream = await c.backupStream({ compress: false });
    const chunks: Buffer[] = [];
    for await (const chunk of stream.body) chunks.push(chunk as Buffer);
    await writeFile(file, Buffer.concat(chunks));
    expected = await sqliteRows(file);
  });

  after(async () => {
    await rq?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("run as the Job runs it: writes a compressed backup sqlite3 reads, and reports size and sha256", async () => {
    const leader = await rq.leader();
    const file = join(dir, "volume", "nightly", "db-nightly.sqlite.gz");
    const message = join(dir, "termination-log");
    const { stdout } = await run(
      process.execPath,
      [
        "--import",
        "tsx",
        join(ROOT, "controller/rqbackup/toFile.ts"),
        `--source=${leader.url}`,
        `--node-id=${leader.id}`,
        "--format=binary",
        "--compress=true",
        "--vacuum=false",
        `--file=${file}`,
        `--termination-log=${message}`,
        `--username=${OPERATOR.username}`,
      ],
      { env: { ...process.env, [ENV_PASSWORD]: OPERATOR.password, [ENV_CA]: rq.caPem! }, cwd: ROOT },
    );
    const report = JSON.parse(await readFile(message, "utf8")) as { size: number; sha256: string };
    assert.equal(stdout.trim(), JSON.stringify(report), "the report is also in the log");
    const body = await readFile(file);
    assert.equal(body.length, report.size);
    assert.equal(sha(body), report.sha256);
    const plain = join(dir, "from-job.sqlite");
    await writeFile(plain, gunzipSync(body));
    assert.deepEqual(await sqliteRows(plain), expected, "rows and checksum as in the cluster");
  });

  it("without the password: exit 1, and the message names the source and rqlite's refusal", async () => {
    const leader = await rq.leader();
    const message = join(dir, "termination-log-noauth");
    const env: NodeJS.ProcessEnv = { ...process.env, [ENV_CA]: rq.caPem! };
    delete env[ENV_PASSWORD];
    const failed = await run(
      process.execPath,
      [
        "--import",
        "tsx",
        join(ROOT, "controller/rqbackup/toFile.ts"),
        `--source=${leader.url}`,
        `--file=${join(dir, "noauth", "x.sqlite")}`,
        `--termination-log=${message}`,
      ],
      { env, cwd: ROOT },
    ).then(
      () => undefined,
      (err: { code?: number }) => err,
    );
    assert.equal(failed?.code, 1);
    const report = JSON.parse(await readFile(message, "utf8")) as { error: string };
    assert.match(report.error, new RegExp(`reading the backup from ${leader.url.replace(/[.]/g, "\\.")} failed`));
    assert.match(report.error, /401|unauthorized/i);
    assert.deepEqual(await readdir(dir).then((f) => f.filter((n) => n === "noauth")), [], "no folder, no file");
  });

  it("a leader killed during the backup leaves no file and no temporary file", async () => {
    const leader = await rq.leader();
    const folder = join(dir, "cut");
    const outcome = backupToFile({
      source: leader.url,
      nodeId: leader.id,
      format: "binary",
      compress: false,
      vacuum: false,
      file: join(folder, "cut.sqlite"),
      username: OPERATOR.username,
      password: OPERATOR.password,
      ca: rq.caPem!,
    }).then(
      () => undefined,
      (err: unknown) => err,
    );
    await rq.kill(leader.id);
    assert.ok((await outcome) instanceof Error, "the backup failed");
    const left = await readdir(folder).catch(() => []);
    assert.deepEqual(left, [], `nothing left in the folder: ${left.join(", ")}`);
    await rq.restart(leader.id);
  });
});
