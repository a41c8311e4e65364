// The entry point of a restore from a claim (see controller/rqcluster/backup/loader.ts): reads a
// backup file from the mounted claim, checks it against the size and sha256 its RqBackup recorded
// (when known), and streams it, gunzipped when it is gzip, into the new cluster's leader through
// POST /db/load. Reports {size, sha256} or {error} as the container's termination message, which
// the RqCluster controller reads. The file is read twice (hash, then load), never held in memory.
//   node dist/controller/rqbackup/fromFile.js --target=https://host:4001 --node-id=n
//     --file=/backup/path/key [--sha256=hex --size=n] --termination-log=/dev/termination-log
//   secrets from env only: RQLITE_PASSWORD (with --username), RQLITE_CA.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, stat, writeFile } from "node:fs/promises";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { createGunzip } from "node:zlib";
import { RqliteClient } from "../rqlite/client.js";
import { ENV_CA, ENV_PASSWORD, TERMINATION_LOG, type ToFileReport } from "./job.js";

const MESSAGE_MAX = 4000;
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const SQLITE_MAGIC = Buffer.from("SQLite format 3\0", "latin1");
/** rqlite loads the file through Raft before it answers: a large database takes a while. */
const LOAD_TIMEOUT_MS = 30 * 60_000;

export interface FromFileOptions {
  target: string;
  nodeId: string;
  file: string;
  /** What the RqBackup recorded; the file must match before anything is loaded. */
  expect?: { sha256: string; size: number };
  username?: string;
  password?: string;
  ca?: string;
}

export function parseFromFileArgs(
  argv: string[],
  env: NodeJS.ProcessEnv,
): FromFileOptions & { terminationLog: string } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      target: { type: "string" },
      "node-id": { type: "string", default: "" },
      file: { type: "string" },
      sha256: { type: "string" },
      size: { type: "string" },
      username: { type: "string" },
      "termination-log": { type: "string", default: TERMINATION_LOG },
    },
  });
  if (!values.target) throw new Error("--target (the leader's base URL) is required");
  if (!values.file) throw new Error("--file (the backup's path in the mounted volume) is required");
  if ((values.sha256 === undefined) !== (values.size === undefined)) throw new Error("--sha256 and --size go together");
  if (values.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(values.sha256))
    throw new Error("--sha256: expected 64 hex digits");
  const size = values.size === undefined ? undefined : Number(values.size);
  if (size !== undefined && !Number.isSafeInteger(size))
    throw new Error(`--size=${values.size}: expected a byte count`);
  if (values.username && !env[ENV_PASSWORD]) throw new Error(`--username needs the password in env ${ENV_PASSWORD}`);
  return {
    target: values.target,
    nodeId: values["node-id"],
    file: values.file,
    terminationLog: values["termination-log"],
    ...(values.sha256 !== undefined && size !== undefined ? { expect: { sha256: values.sha256, size } } : {}),
    ...(values.username ? { username: values.username, password: env[ENV_PASSWORD]! } : {}),
    ...(env[ENV_CA] ? { ca: env[ENV_CA] } : {}),
  };
}

async function firstBytes(file: string, n: number): Promise<Buffer> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The SQLite bytes of the file: itself, or gunzipped; refuses anything else before a byte is sent. */
async function sqliteStream(file: string): Promise<Readable> {
  const head = await firstBytes(file, SQLITE_MAGIC.length);
  if (head.subarray(0, 2).equals(GZIP_MAGIC)) {
    const inner = await pipelineHead(createReadStream(file).pipe(createGunzip()), SQLITE_MAGIC.length);
    if (!inner.equals(SQLITE_MAGIC)) throw new Error(`${file} is gzip, but what it holds is not an SQLite file`);
    const out = new PassThrough();
    void pipeline(createReadStream(file), createGunzip(), out).catch((err: Error) => out.destroy(err));
    return out;
  }
  if (!head.equals(SQLITE_MAGIC))
    throw new Error(`${file} is not a binary SQLite backup (nor gzip of one); a sql-format backup does not restore`);
  return createReadStream(file);
}

/** The first n bytes of a stream, then it is closed. */
async function pipelineHead(stream: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    got += chunk.length;
    if (got >= n) break;
  }
  stream.destroy();
  return Buffer.concat(chunks).subarray(0, n);
}

async function digest(file: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest("hex") };
}

/** Loads `o.file` into the leader at `o.target`; the file's size and sha256 are what it reports. */
export async function loadFromFile(o: FromFileOptions): Promise<{ size: number; sha256: string }> {
  const info = await stat(o.file).catch((err: NodeJS.ErrnoException) => {
    throw new Error(
      err.code === "ENOENT"
        ? `there is no file ${o.file} in the claim; check the path (spec.restore.pvc.path, or the RqBackup's status.location)`
        : `cannot read ${o.file}: ${err.message}`,
    );
  });
  if (!info.isFile()) throw new Error(`${o.file} is not a file`);
  const read = await digest(o.file);
  if (o.expect && (read.size !== o.expect.size || read.sha256 !== o.expect.sha256))
    throw new Error(
      `${o.file} is not the backup its RqBackup recorded: ${read.size} bytes with sha256 ${read.sha256}, recorded ${o.expect.size} bytes with sha256 ${o.expect.sha256}; nothing was loaded`,
    );
  const rqlite = new RqliteClient(o.target, {
    ...(o.nodeId ? { nodeId: o.nodeId } : {}),
    ...(o.username && o.password ? { auth: { username: o.username, password: o.password } } : {}),
    ...(o.ca ? { tls: { ca: o.ca } } : {}),
  });
  await rqlite.load(await sqliteStream(o.file), { timeoutMs: LOAD_TIMEOUT_MS });
  return read;
}

async function main(): Promise<void> {
  let terminationLog = TERMINATION_LOG;
  const report = async (r: ToFileReport) => {
    const text = JSON.stringify(r).slice(0, MESSAGE_MAX);
    await writeFile(terminationLog, text).catch(() => {});
    process.stdout.write(`${text}\n`);
  };
  try {
    const o = parseFromFileArgs(process.argv.slice(2), process.env);
    terminationLog = o.terminationLog;
    await report(await loadFromFile(o));
  } catch (err) {
    await report({ error: (err as Error).message.slice(0, MESSAGE_MAX - 20) });
    process.exitCode = 1;
  }
}

// Run when started as the entry point, not when imported (tests import loadFromFile).
if (process.argv[1] && /fromFile\.[jt]s$/.test(process.argv[1])) void main();
