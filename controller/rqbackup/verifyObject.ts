// The I/O of backup verification: reads a Completed backup's object back from S3, through the
// same gate and with the same credentials Secret as its upload (so nothing is read that the
// upload could not write, and nothing outside the RqBackup's namespace), hashing and counting
// every byte; stages it uncompressed in the operator's scratch folder (bounded by maxBytes),
// checked as the upload was (./verify.ts); then hands the file to a throwaway process
// (./checkDb.ts) that opens it as a restore would and runs PRAGMA integrity_check. The files go
// once the reading ends. What the reading means is decided in ./verification.ts.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { createGunzip } from "node:zlib";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { s3BackupKey } from "../../shared/backup-names.js";
import { describeS3Error, S3AccessError, s3ClientFor, type S3Gate } from "../access/s3.js";
import { s3Connection } from "../access/s3Connection.js";
import type { Writer } from "../runtime/writer.js";
import { BackupVerifier } from "./verify.js";
import { parseCheckReport, type ObjectReading } from "./verification.js";
import type { RqBackup } from "./types.js";
import type { CheckReport } from "./checkDb.js";

export interface ReadBackOptions {
  writer: Writer;
  s3: S3Gate;
  /** Scratch folder (the operator's /tmp, an emptyDir). */
  tmpDir: string;
  /** The most bytes staged, compressed or not: beyond it the backup is not verified. */
  maxBytes: number;
  /** The longest the read and the check may take together. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** The throwaway check's entry: checkDb.js beside this module once compiled, checkDb.ts run from source. */
const CHECK_ENTRY = (() => {
  const here = fileURLToPath(import.meta.url);
  return join(dirname(here), `checkDb${extname(here)}`);
})();

class TooLarge extends Error {}

/** Passes bytes on while there are at most `max` of them. */
const capped = (max: number) => {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      seen += chunk.length;
      cb(seen > max ? new TooLarge() : null, chunk);
    },
  });
};

export async function readBack(o: ReadBackOptions, b: RqBackup): Promise<ObjectReading> {
  const spec = b.spec!;
  const s3 = spec.destination.s3!;
  const conn = s3Connection(s3);
  const format = spec.format ?? "binary";
  const compress = spec.compress ?? true;
  // The key the upload wrote, from the spec and the creation time as the upload computed it; the
  // status is not trusted to name an object.
  const key = s3BackupKey(
    s3.path,
    b.metadata!.namespace!,
    b.metadata!.name!,
    format,
    compress,
    new Date(b.metadata!.creationTimestamp ?? 0),
  );
  const what = `s3://${conn.bucket}/${key}`;
  let client;
  try {
    client = await s3ClientFor(o.writer, o.s3, b, conn, "spec.destination.s3.credentialsSecret", o.timeoutMs);
  } catch (err) {
    if (err instanceof S3AccessError) return { kind: "unreadable", reason: err.message };
    throw err;
  }
  const dir = await mkdtemp(join(o.tmpDir, "rqbackup-verify-"));
  const signal = AbortSignal.any([AbortSignal.timeout(o.timeoutMs), ...(o.signal ? [o.signal] : [])]);
  try {
    const raw = join(dir, "object");
    const hash = createHash("sha256");
    let size = 0;
    try {
      const got = await client.send(new GetObjectCommand({ Bucket: conn.bucket, Key: key }), { abortSignal: signal });
      const counted = new Transform({
        transform(chunk: Buffer, _enc, cb: TransformCallback) {
          hash.update(chunk);
          size += chunk.length;
          cb(null, chunk);
        },
      });
      await pipeline(got.Body as Readable, counted, capped(o.maxBytes), createWriteStream(raw, { flags: "wx" }), {
        signal,
      });
    } catch (err) {
      if (err instanceof TooLarge) return { kind: "tooLarge", maxBytes: o.maxBytes };
      return { kind: "unreadable", reason: describeS3Error(err, `reading ${what}`, conn.endpoint) };
    }
    const read = { size, sha256: hash.digest("hex") };
    return await checkStaged(
      raw,
      read,
      { format, compress, maxBytes: o.maxBytes, dir, signal, timeoutMs: o.timeoutMs, dropRaw: true },
      (f) => runCheck(f, format, signal),
    );
  } finally {
    client.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs the check in its own process: Node's permission model limits its file reads to its code
 * and the one file, and denies child processes, workers and addons; the deadline kills it.
 */
export async function runCheck(file: string, format: "binary" | "sql", signal: AbortSignal) {
  const child = spawn(
    process.execPath,
    [
      "--permission",
      `--allow-fs-read=${CHECK_ENTRY}`,
      `--allow-fs-read=${file}`,
      CHECK_ENTRY,
      `--file=${file}`,
      `--format=${format}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"], signal, env: {}, cwd: dirname(file) },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout = (stdout + d).slice(-65536)));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-4096)));
  const exit = await new Promise<string>((resolve) => {
    child.once("error", (err) => resolve(err.message));
    child.once("close", (code, sig) => resolve(sig ? `killed by ${sig}` : `exit code ${code}`));
  });
  const report = parseCheckReport(stdout);
  if ("error" in report && !stdout.trim()) {
    const tail = stderr.trim().split("\n").slice(-3).join(" ");
    return { error: `the check of ${basename(file)} ended without a report (${exit})${tail ? `: ${tail}` : ""}` };
  }
  return report;
}

export interface StagedOptions {
  format: "binary" | "sql";
  compress: boolean;
  maxBytes: number;
  /** Where the uncompressed copy goes. */
  dir: string;
  signal: AbortSignal;
  /** The signal's deadline, for the reason when it fires. */
  timeoutMs: number;
  /** Delete the compressed file once uncompressed (a staged download), not when it is the backup itself. */
  dropRaw: boolean;
}

/**
 * The reading of a backup file already hashed (`read`): uncompressed into `dir` (bounded by
 * maxBytes), checked whole as the upload was (./verify.ts), then opened by `check`. Shared by the
 * operator's read-back from S3 and a `pvc` backup's verification Job (./verifyFile.ts).
 */
export async function checkStaged(
  raw: string,
  read: { size: number; sha256: string },
  o: StagedOptions,
  check: (file: string) => Promise<CheckReport>,
): Promise<ObjectReading> {
  const file = o.compress ? join(o.dir, "uncompressed") : raw;
  const verifier = new BackupVerifier(o.format);
  const checked = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      verifier.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    if (o.compress) {
      await pipeline(
        createReadStream(raw),
        createGunzip(),
        checked,
        capped(o.maxBytes),
        createWriteStream(file, { flags: "wx" }),
        { signal: o.signal },
      );
      if (o.dropRaw) await rm(raw);
    } else await pipeline(createReadStream(raw), checked, { signal: o.signal });
  } catch (err) {
    if (err instanceof TooLarge) return { kind: "tooLarge", maxBytes: o.maxBytes };
    if (o.signal.aborted)
      return { kind: "unreadable", reason: `verification did not finish in ${o.timeoutMs / 1000} s` };
    return { kind: "read", ...read, problem: `the compressed backup is damaged: ${(err as Error).message}` };
  }
  const problem = verifier.problem();
  if (problem) return { kind: "read", ...read, problem };
  return { kind: "read", ...read, check: await check(file) };
}
