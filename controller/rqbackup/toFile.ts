// The entry point of a `pvc` RqBackup's Job (see job.ts): streams GET /db/backup from the leader
// into a file of the mounted claim, through the same checks, hash and count as the S3 transfer
// (transfer.ts), via a temporary file renamed into place only once the backup is whole. Reports
// {size, sha256} or {error} as the container's termination message, which the RqBackup
// controller reads. Memory stays bounded: the bytes stream from the socket to the file.
//   node dist/controller/rqbackup/toFile.js --source=https://host:4001 --node-id=n --format=binary
//     --compress=true --vacuum=false --file=/backup/path/key --termination-log=/dev/termination-log
//   secrets from env only: RQLITE_PASSWORD (with --username), RQLITE_CA.
import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm, writeFile } from "node:fs/promises";
import { createWriteStream } from "node:fs";
import { dirname } from "node:path";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { RqliteClient, RqliteError } from "../rqlite/client.js";
import { ENV_CA, ENV_PASSWORD, TERMINATION_LOG, type ToFileReport } from "./job.js";
import { checkedStream, SourceError, type Transferred } from "./transfer.js";
import type { BackupFormat } from "./types.js";

/** The kubelet keeps at most 4096 bytes of a termination message. */
const MESSAGE_MAX = 4000;

export interface ToFileOptions {
  source: string;
  nodeId: string;
  format: BackupFormat;
  compress: boolean;
  vacuum: boolean;
  file: string;
  username?: string;
  password?: string;
  ca?: string;
}

export function parseToFileArgs(argv: string[], env: NodeJS.ProcessEnv): ToFileOptions & { terminationLog: string } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      source: { type: "string" },
      "node-id": { type: "string", default: "" },
      format: { type: "string", default: "binary" },
      compress: { type: "string", default: "true" },
      vacuum: { type: "string", default: "false" },
      file: { type: "string" },
      username: { type: "string" },
      "termination-log": { type: "string", default: TERMINATION_LOG },
    },
  });
  if (!values.source) throw new Error("--source (the leader's base URL) is required");
  if (!values.file) throw new Error("--file (the backup's path in the mounted volume) is required");
  if (values.format !== "binary" && values.format !== "sql") {
    throw new Error(`--format=${values.format}: expected binary or sql`);
  }
  if (values.username && !env[ENV_PASSWORD]) throw new Error(`--username needs the password in env ${ENV_PASSWORD}`);
  return {
    source: values.source,
    nodeId: values["node-id"],
    format: values.format,
    compress: values.compress === "true",
    vacuum: values.vacuum === "true",
    file: values.file,
    terminationLog: values["termination-log"],
    ...(values.username ? { username: values.username, password: env[ENV_PASSWORD]! } : {}),
    ...(env[ENV_CA] ? { ca: env[ENV_CA] } : {}),
  };
}

/** Writes the backup to `o.file`; the file appears only whole and checked, never half-written. */
export async function backupToFile(o: ToFileOptions): Promise<Transferred> {
  const rqlite = new RqliteClient(o.source, {
    ...(o.nodeId ? { nodeId: o.nodeId } : {}),
    ...(o.username && o.password ? { auth: { username: o.username, password: o.password } } : {}),
    ...(o.ca ? { tls: { ca: o.ca } } : {}),
  });
  const stream = await rqlite.backupStream({ format: o.format, compress: o.compress, vacuum: o.vacuum });
  const checked = checkedStream(stream, o);
  await mkdir(dirname(o.file), { recursive: true }).catch((err: Error) => {
    throw new Error(`cannot create folder ${dirname(o.file)} in the volume: ${err.message}`);
  });
  const tmp = `${o.file}.tmp-${randomBytes(4).toString("hex")}`;
  try {
    await pipeline(checked.body, createWriteStream(tmp, { flags: "wx" }));
    const sourceError = checked.sourceError();
    if (sourceError) throw new SourceError(sourceError.message);
    // On disk before the rename, and the rename on disk before the report says Completed.
    const fh = await open(tmp, "r+");
    await fh.sync().finally(() => fh.close());
    await rename(tmp, o.file);
    const dir = await open(dirname(o.file), "r");
    await dir.sync().finally(() => dir.close());
  } catch (err) {
    stream.body.destroy();
    await rm(tmp, { force: true });
    const sourceError = checked.sourceError();
    if (sourceError && !(err instanceof SourceError)) throw new SourceError(sourceError.message, { cause: err });
    throw err;
  }
  return checked.result();
}

function describe(err: unknown, o: Pick<ToFileOptions, "source" | "file">): string {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof SourceError || err instanceof RqliteError) {
    return `reading the backup from ${o.source} failed: ${message}`;
  }
  return `writing ${o.file} failed: ${message}; check spec.destination.pvc.path and the claim's free space and permissions`;
}

/**
 * `--delete=<file> --termination-log=<path>`: removes a backup file an RqScheduledBackup's
 * retention dropped (controller/rqscheduledbackup/pruneJob.ts); a file already gone is no error.
 */
async function deleteMain(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { delete: { type: "string" }, "termination-log": { type: "string", default: TERMINATION_LOG } },
  });
  const log = values["termination-log"];
  try {
    await rm(values.delete!, { force: true });
    await writeFile(log, JSON.stringify({ deleted: values.delete })).catch(() => {});
  } catch (err) {
    await writeFile(
      log,
      JSON.stringify({ error: `deleting ${values.delete} failed: ${(err as Error).message}` }),
    ).catch(() => {});
    process.exitCode = 1;
  }
}

async function main(): Promise<void> {
  if (process.argv.slice(2).some((a) => a.startsWith("--delete="))) return deleteMain(process.argv.slice(2));
  let terminationLog = TERMINATION_LOG;
  const report = async (r: ToFileReport) => {
    const text = JSON.stringify(r).slice(0, MESSAGE_MAX);
    await writeFile(terminationLog, text).catch(() => {});
    process.stdout.write(`${text}\n`);
  };
  let o: ReturnType<typeof parseToFileArgs>;
  try {
    o = parseToFileArgs(process.argv.slice(2), process.env);
    terminationLog = o.terminationLog;
  } catch (err) {
    await report({ error: `bad arguments: ${(err as Error).message}` });
    process.exitCode = 2;
    return;
  }
  try {
    const done = await backupToFile(o);
    await report(done);
  } catch (err) {
    await report({ error: describe(err, o).slice(0, MESSAGE_MAX - 20) });
    process.exitCode = 1;
  }
}

// Run when started as the entry point, not when imported (tests import backupToFile).
if (process.argv[1] && /toFile\.[jt]s$/.test(process.argv[1])) void main();
