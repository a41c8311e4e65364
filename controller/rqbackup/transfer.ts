// The I/O of one backup attempt: rqlite's GET /db/backup, read from the leader as a stream, goes
// to S3 through a multipart upload while it is hashed, counted and checked. Memory stays bounded
// by the upload's part buffers ((queueSize + 1) x partSize), whatever the database's size.
import { createHash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { createGunzip, type Gunzip } from "node:zlib";
import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { uploadStream } from "../access/s3Upload.js";
import type { BackupStream } from "../rqlite/client.js";
import { BackupVerifier } from "./verify.js";
import type { BackupFormat } from "./types.js";

/**
 * S3's smallest part (5 MiB), two uploading while a third is read (controller/access/s3Upload.ts):
 * each part's memory is held for the whole backup, so parts stay small unless the database needs
 * bigger ones.
 */
export const MIN_PART_SIZE = 5 << 20;
export const QUEUE_SIZE = 2;
/** S3 takes at most 10 000 parts; the part size leaves room for a database that grows meanwhile. */
const MAX_PARTS = 10_000;

/**
 * The part size for a backup of about `expectedBytes` (the leader's database file; an SQL dump
 * of it can be about twice as large): the smallest whole MiB that keeps it within 8 000 parts.
 */
export function partSizeFor(expectedBytes: number | undefined, format: BackupFormat): number {
  const bound = (expectedBytes ?? 0) * (format === "sql" ? 2.5 : 1.25);
  const needed = Math.ceil(bound / (MAX_PARTS * 0.8) / (1 << 20)) * (1 << 20);
  return Math.max(MIN_PART_SIZE, needed);
}

export interface TransferTarget {
  s3: S3Client;
  bucket: string;
  key: string;
}

export interface TransferOptions {
  format: BackupFormat;
  compress: boolean;
  /** The database's size as the leader reports it, to size the parts; 5 MiB parts when unknown. */
  expectedBytes?: number;
  signal?: AbortSignal;
}

export interface Transferred {
  size: number;
  sha256: string;
}

/** The transfer failed while reading from rqlite or checking what came (not S3's fault). */
export class SourceError extends Error {
  override readonly name = "SourceError";
}

/** A backup on its way to a destination: the bytes to store, checked, hashed and counted as they pass. */
export interface CheckedStream {
  /** Pipe or upload this; it errors (with a SourceError) when the source fails or a check fails. */
  body: Transform;
  /** Size and SHA-256 of every byte that passed; final once `body` has ended. */
  result(): Transferred;
  /** The source's own error, when reading from rqlite failed. */
  sourceError(): Error | undefined;
}

/**
 * Wraps rqlite's backup answer so that whatever writes it (an S3 upload, a file in a PVC) gets
 * exactly the stored bytes, hashed and counted, and sees an error instead of the end of the
 * stream when the backup is not whole. Memory: one chunk and the gunzip window.
 */
export function checkedStream(source: BackupStream, opts: Pick<TransferOptions, "format" | "compress">): CheckedStream {
  const hash = createHash("sha256");
  const verifier = new BackupVerifier(opts.format);
  let size = 0;
  // The compressed bytes are what is stored; the check reads them uncompressed, beside the upload.
  const gunzip: Gunzip | undefined = opts.compress ? createGunzip() : undefined;
  let gunzipError: Error | undefined;
  gunzip?.on("data", (c: Buffer) => verifier.update(c));
  gunzip?.on("error", (err) => (gunzipError = err));
  const gunzipEnded = gunzip
    ? new Promise<void>((resolve) => gunzip.once("end", resolve).once("error", () => resolve()))
    : undefined;

  const counted = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      hash.update(chunk);
      size += chunk.length;
      if (!gunzip) {
        verifier.update(chunk);
        cb(null, chunk);
      } else if (gunzip.write(chunk)) cb(null, chunk);
      else gunzip.once("drain", () => cb(null, chunk));
    },
    // The checks run before the stream ends: a failed check errors the body, so the upload is
    // aborted (the file discarded) instead of completed.
    flush(cb: TransformCallback) {
      const finish = () => {
        const problem = gunzipError ? `the compressed backup is damaged: ${gunzipError.message}` : verifier.problem();
        cb(problem ? new SourceError(problem) : null);
      };
      if (gunzip) {
        gunzip.end();
        void gunzipEnded!.then(finish);
      } else finish();
    },
    destroy(err, cb) {
      gunzip?.destroy();
      cb(err);
    },
  });
  let sourceError: Error | undefined;
  source.body.on("error", (err) => {
    sourceError = err;
    counted.destroy(new SourceError(err.message));
  });
  source.body.pipe(counted);
  let digest: string | undefined;
  return {
    body: counted,
    result: () => ({ size, sha256: (digest ??= hash.digest("hex")) }),
    sourceError: () => sourceError,
  };
}

/**
 * Copies `source` to the target. Resolves only once the whole backup passed the checks and S3
 * holds an object of exactly the bytes hashed; otherwise rejects, and the multipart upload is
 * aborted, so no partial object is left under the key.
 */
export async function transfer(
  source: BackupStream,
  target: TransferTarget,
  opts: TransferOptions,
): Promise<Transferred> {
  const checked = checkedStream(source, opts);
  const counted = checked.body;

  try {
    await uploadStream(target.s3, counted, {
      bucket: target.bucket,
      key: target.key,
      contentType: opts.format === "sql" ? "application/sql" : "application/vnd.sqlite3",
      ...(opts.compress ? { contentEncoding: "gzip" } : {}),
      queueSize: QUEUE_SIZE,
      partSize: partSizeFor(opts.expectedBytes, opts.format),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (err) {
    source.body.destroy();
    counted.destroy();
    // The upload reports the body's failure in its own words; the source's is the useful one.
    const sourceError = checked.sourceError();
    if (sourceError) throw new SourceError(sourceError.message, { cause: err });
    throw err;
  }
  const sourceError = checked.sourceError();
  if (sourceError) throw new SourceError(sourceError.message);
  const { size, sha256 } = checked.result();
  // What S3 holds must be what was hashed, byte for byte in length at least.
  const head = await target.s3.send(new HeadObjectCommand({ Bucket: target.bucket, Key: target.key }));
  if (head.ContentLength !== size) {
    throw new Error(
      `S3 holds ${head.ContentLength} bytes under s3://${target.bucket}/${target.key}, but ${size} were sent`,
    );
  }
  return { size, sha256 };
}
