// The S3 edge of backups and restores (retention, and resolving a restore source), through the
// AWS SDK: listing, heading and deleting objects, with credentials read from the user's Secret.
// Errors say which object, and what a person can do about it.
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type ListObjectsV2CommandOutput,
} from "@aws-sdk/client-s3";
import { Readable, Transform } from "node:stream";
import type { DataObject, Writer } from "../runtime/writer.js";
import type { StoredObject } from "./plan/backup.js";
import type { S3Connection } from "./render/backup.js";

const S3_TIMEOUT_MS = 15_000;

/**
 * What the operator reads from an S3 endpoint, which a tenant may name and run: one answer's body
 * (a full ListObjectsV2 page is about 1.3 MB), and a listing's objects, pages and time. 20 000
 * objects are nearly 2.5 years of hourly uploads; listing them grows the operator by ~40 MB. Past any
 * of them the listing is refused whole, as acting on part of one (retention, `latest`) could
 * delete or restore the wrong object.
 */
export interface S3Bounds {
  maxAnswerBytes: number;
  maxObjects: number;
  maxPages: number;
  listDeadlineMs: number;
}

export const DEFAULT_S3_BOUNDS: S3Bounds = {
  maxAnswerBytes: 8 << 20,
  maxObjects: 20_000,
  maxPages: 40,
  listDeadlineMs: 60_000,
};

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** An access key pair read from the user's Secret, or what stops it, in words for a condition. */
export type CredentialsRead = S3Credentials | { problem: "no-secret" | "no-key"; message: string };

/** `at` names the Secret and the field that names it, e.g. "Secret ns/s3 (spec.backup...)". */
export function credentialsFrom(
  secret: DataObject | undefined,
  ref: { accessKeyIdKey: string; secretAccessKeyKey: string },
  at: string,
): CredentialsRead {
  if (!secret)
    return {
      problem: "no-secret",
      message: `${at} does not exist; create it with keys ${ref.accessKeyIdKey} and ${ref.secretAccessKeyKey}`,
    };
  const accessKeyId = secret.data[ref.accessKeyIdKey];
  const secretAccessKey = secret.data[ref.secretAccessKeyKey];
  if (!accessKeyId || !secretAccessKey) {
    const missing = [accessKeyId ? [] : [ref.accessKeyIdKey], secretAccessKey ? [] : [ref.secretAccessKeyKey]].flat();
    return { problem: "no-key", message: `${at} has no ${missing.join(" or ")} key` };
  }
  return { accessKeyId, secretAccessKey };
}

/**
 * The one way the operator builds an S3 client. Without credentials the SDK's default chain
 * applies, as for rqlited. The SDK's own retries stay short, so a dead server is noticed in
 * seconds: the callers retry with their own backoff. `requestTimeoutMs` bounds one request (a
 * multipart upload's part needs longer than a listing).
 */
export function newS3Client(
  conn: { region: string; endpoint?: string; forcePathStyle: boolean },
  credentials: S3Credentials | undefined,
  requestTimeoutMs = S3_TIMEOUT_MS,
  maxAnswerBytes = DEFAULT_S3_BOUNDS.maxAnswerBytes,
): S3Client {
  const client = new S3Client({
    region: conn.region,
    forcePathStyle: conn.forcePathStyle,
    ...(conn.endpoint ? { endpoint: conn.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 5000, requestTimeout: requestTimeoutMs },
  });
  // Inside the deserializer (priority low), so it caps the raw body before the SDK collects and
  // parses it whole.
  client.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      const res = out.response as { body?: unknown };
      if (res.body instanceof Readable) {
        const body = res.body;
        const cap = capped(maxAnswerBytes, conn.endpoint);
        // A refused answer closes its connection; nothing reads the rest.
        cap.on("error", () => body.destroy());
        body.on("error", (err) => cap.destroy(err));
        res.body = body.pipe(cap);
      }
      return out;
    },
    { step: "deserialize", priority: "low", name: "rqliteOperatorAnswerCap" },
  );
  return client;
}

/** A pass-through that fails once more than `max` bytes went through it. */
function capped(max: number, endpoint: string | undefined): Transform {
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > max)
        cb(
          new S3BoundError(
            `the S3 endpoint ${endpoint ?? "(AWS)"} sent an answer larger than ${max >> 20} MiB, which the operator does not read`,
          ),
        );
      else cb(null, chunk);
    },
  });
}

/** A client for one connection; `where` names the field the Secret came from, for the error. */
export async function s3ClientFor(writer: Writer, namespace: string, conn: S3Connection, where: string) {
  const ref = conn.credentialsSecret;
  if (!ref) return newS3Client(conn, undefined);
  const read = credentialsFrom(
    await writer.readSecret(namespace, ref.name),
    ref,
    `Secret ${namespace}/${ref.name} (${where})`,
  );
  if ("problem" in read) throw new S3AccessError(read.message);
  return newS3Client(conn, read);
}

/** A failure to reach or read S3 whose message is fit for a condition and an Event. */
export class S3AccessError extends Error {}

/** An S3 answer or listing past the operator's bounds (S3Bounds); nothing was acted on. */
export class S3BoundError extends Error {
  override readonly name = "S3BoundError";
}

/** Why an S3 call failed, in words a person can act on. */
export function describeS3Error(err: unknown, what: string): string {
  const e = err as {
    name?: string;
    Code?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  // A HEAD answer has no body, so the SDK names its errors "Unknown": the HTTP status says more.
  const named = e.name ?? e.Code ?? e.code ?? "";
  const status = e.$metadata?.httpStatusCode;
  const code = named === "Unknown" && status !== undefined ? `HTTP ${status}` : named;
  if (err instanceof S3AccessError) return err.message;
  if (err instanceof S3BoundError) return `${what}: ${err.message}`;
  if (code === "NoSuchKey" || code === "NotFound" || status === 404) return `${what} does not exist`;
  if (code === "NoSuchBucket") return `${what}: the bucket does not exist`;
  if (
    ["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "XAdminUserNotFound", "Forbidden"].includes(code) ||
    status === 403
  )
    return `${what}: access denied (${code || status}); check the credentials Secret's access key id and secret access key`;
  // A socket error comes from Node as a plain Error named "Error": its code (or, wrapped, its
  // message) says what happened.
  const unreachable = ["ECONNREFUSED", "ENOTFOUND", "ETIMEDOUT", "ECONNRESET", "EAI_AGAIN", "TimeoutError"];
  const network =
    [code, e.code].find((c) => c !== undefined && unreachable.includes(c)) ??
    unreachable.find((c) => e.message?.includes(c));
  if (network) return `${what}: the S3 endpoint cannot be reached (${network})`;
  return `${what}: ${code ? `${code}: ` : ""}${e.message ?? String(err)}`;
}

const timeout = () => ({ abortSignal: AbortSignal.timeout(S3_TIMEOUT_MS) });

/**
 * Every object whose key starts with `prefix`, paging through the listing. Rejects with an
 * S3BoundError, and returns nothing, when the listing passes `bounds`: more objects or pages than
 * allowed, or longer than the deadline (which also ends a page in flight).
 */
export async function listObjects(
  client: S3Client,
  bucket: string,
  prefix: string,
  bounds: Pick<S3Bounds, "maxObjects" | "maxPages" | "listDeadlineMs"> = DEFAULT_S3_BOUNDS,
): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  const deadline = AbortSignal.timeout(bounds.listDeadlineMs);
  const refuse = (why: string) =>
    new S3BoundError(
      `the listing of s3://${bucket}/${prefix} ${why}; the operator acts on no part of it (keep fewer objects under the prefix, or use a prefix of their own)`,
    );
  let token: string | undefined;
  let pages = 0;
  do {
    if (++pages > bounds.maxPages) throw refuse(`has more than ${bounds.maxPages} pages`);
    let page: ListObjectsV2CommandOutput;
    try {
      page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
        { abortSignal: AbortSignal.any([deadline, AbortSignal.timeout(S3_TIMEOUT_MS)]) },
      );
    } catch (err) {
      if (deadline.aborted) throw refuse(`took longer than ${bounds.listDeadlineMs / 1000} s (${pages} pages)`);
      throw err;
    }
    for (const o of page.Contents ?? []) {
      if (out.length >= bounds.maxObjects) throw refuse(`has more than ${bounds.maxObjects} objects`);
      if (o.Key) out.push({ key: o.Key, lastModified: o.LastModified?.getTime() ?? 0, size: o.Size });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** The object's size; throws when it does not exist or cannot be read. */
export async function headObject(client: S3Client, bucket: string, key: string): Promise<number | undefined> {
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), timeout());
  return head.ContentLength;
}

export async function deleteObject(client: S3Client, bucket: string, key: string): Promise<void> {
  await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), timeout());
}
