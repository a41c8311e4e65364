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
import type { KubernetesObject } from "@kubernetes/client-node";
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from "node:dns";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import {
  addressRefusal,
  ambientCredentialsRefusal,
  displayEndpoint,
  endpointRefusal,
  S3_ENDPOINT_ALLOW_FLAG,
  type S3Policy,
} from "../../shared/s3-endpoint.js";
import { Readable, Transform } from "node:stream";
import { componentLogger } from "../runtime/log.js";
import { ownerNamespace, type DataObject, type Writer } from "../runtime/writer.js";
import type { S3Connection } from "./s3Connection.js";

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
type CredentialsProblem = "no-secret" | "no-key";
export type CredentialsRead = S3Credentials | { problem: CredentialsProblem; message: string };

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

/** Resolves a host name to every address it has, as dns.lookup with `all: true` does. */
export type ResolveAll = (
  hostname: string,
  options: LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * Where the operator may send S3 requests and whose credentials it may use: the administrator's
 * policy (--s3-endpoint-allow, --ambient-credentials-namespaces), and how names resolve (DNS;
 * tests pin names to addresses).
 */
export interface S3Gate {
  policy: S3Policy;
  resolve?: ResolveAll;
}

/** A connection the gate would not open: shown to tenants only as "could not connect". */
export class S3EndpointRefusedError extends Error {
  readonly code = "ERR_S3_ENDPOINT_REFUSED";
}

const gateLog = componentLogger("s3-gate");

/**
 * The gate's check of one connection's spec: the endpoint as written, and the credentials it
 * would use. `at` is the field that holds the connection, e.g. "spec.backup.s3".
 */
export function connectionRefusal(
  gate: S3Gate,
  namespace: string,
  conn: { endpoint?: string | undefined; credentialsSecret?: unknown },
  at: string,
): string | undefined {
  const endpoint = conn.endpoint && endpointRefusal(conn.endpoint, gate.policy);
  if (endpoint) return `${at}.endpoint ${endpoint}`;
  const ambient = conn.credentialsSecret ? undefined : ambientCredentialsRefusal(namespace, gate.policy);
  return ambient && `${at}.credentialsSecret ${ambient}`;
}

/**
 * A lookup for Node's sockets that refuses, after DNS, a name resolving to an address the policy
 * refuses (loopback, link-local, the API server...): a name that passed admission may point
 * anywhere by the time it is used. Any refused address refuses the name, so the answer's order
 * cannot matter.
 */
export function guardedLookup(gate: S3Gate) {
  const resolve: ResolveAll = gate.resolve ?? ((h, o, cb) => dnsLookup(h, o, cb));
  return (
    hostname: string,
    options: { family?: number | string; all?: boolean; hints?: number },
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    const family = ({ IPv4: 4, IPv6: 6, "4": 4, "6": 6 } as Record<string, number>)[String(options.family)] ?? 0;
    resolve(hostname, { all: true, family, ...(options.hints ? { hints: options.hints } : {}) }, (err, addresses) => {
      if (err) return callback(err, []);
      for (const a of addresses) {
        const refusal = addressRefusal(a.address, gate.policy);
        if (refusal) {
          // The detail stays in the operator's log: in a tenant's status it would map their network.
          gateLog.debug({ host: hostname, refusal }, "refused to connect to an S3 endpoint");
          return callback(new S3EndpointRefusedError(`refused to connect to ${hostname}`), []);
        }
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: "ENOTFOUND" }), []);
      callback(null, first.address, first.family);
    });
  };
}

/**
 * The one way the operator builds an S3 client. Without credentials (where the namespace may use
 * ambient credentials) the SDK's default chain applies, as for rqlited. The SDK's own retries stay short, so a dead server is noticed in
 * seconds: the callers retry with their own backoff. `requestTimeoutMs` bounds one request (a
 * multipart upload's part needs longer than a listing). Every connection goes through the gate:
 * the endpoint as written, then each address its name resolves to.
 */
export function newS3Client(
  gate: S3Gate,
  conn: { region: string; endpoint?: string | undefined; forcePathStyle: boolean },
  credentials: S3Credentials | undefined,
  requestTimeoutMs = S3_TIMEOUT_MS,
  maxAnswerBytes = DEFAULT_S3_BOUNDS.maxAnswerBytes,
): S3Client {
  const refusal = conn.endpoint && endpointRefusal(conn.endpoint, gate.policy);
  if (refusal) throw new S3AccessError(`S3 endpoint ${displayEndpoint(conn.endpoint!)} ${refusal}`);
  // The SDK's own agents keep connections alive with up to 50 sockets; these do the same.
  const agentOptions = { keepAlive: true, maxSockets: 50, lookup: guardedLookup(gate) };
  const client = new S3Client({
    region: conn.region,
    forcePathStyle: conn.forcePathStyle,
    ...(conn.endpoint ? { endpoint: conn.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    maxAttempts: 2,
    requestHandler: {
      connectionTimeout: 5000,
      requestTimeout: requestTimeoutMs,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
    },
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

/**
 * A client for one connection whose Secret `owner` names (read in the owner's namespace); `where`
 * names the field the Secret came from, for the error. Every S3 client of a spec is made here:
 * the policy first, then the credentials, then the client.
 */
export async function s3ClientFor(
  writer: Writer,
  gate: S3Gate,
  owner: KubernetesObject,
  conn: S3Connection,
  where: string,
  requestTimeoutMs = S3_TIMEOUT_MS,
) {
  const refusal = connectionRefusal(gate, ownerNamespace(owner), conn, where.replace(/\.credentialsSecret$/, ""));
  if (refusal) throw new S3AccessError(refusal, "refused");
  const ref = conn.credentialsSecret;
  if (!ref) return newS3Client(gate, conn, undefined, requestTimeoutMs);
  const read = credentialsFrom(
    await writer.readSecret(owner, ref.name),
    ref,
    `Secret ${ownerNamespace(owner)}/${ref.name} (${where})`,
  );
  if ("problem" in read) throw new S3AccessError(read.message, read.problem);
  return newS3Client(gate, conn, read, requestTimeoutMs);
}

/**
 * A failure to reach or read S3 whose message is fit for a condition and an Event. `problem`:
 * what stood in the way before any request, when that is what failed.
 */
export class S3AccessError extends Error {
  constructor(
    message: string,
    readonly problem?: "refused" | CredentialsProblem,
  ) {
    super(message);
  }
}

/** An S3 answer or listing past the operator's bounds (S3Bounds); nothing was acted on. */
export class S3BoundError extends Error {
  override readonly name = "S3BoundError";
}

/**
 * Why an S3 call failed, in words a person can act on. What happened below HTTP (refused,
 * reset, timed out, a TLS or DNS failure, or the gate's refusal) reads the same, "could not
 * connect", whatever it was: told apart in a tenant's status, it would scan the operator's
 * network for them. `endpoint` is the spec's; unset means AWS S3.
 */
export function describeS3Error(err: unknown, what: string, endpoint: string | undefined): string {
  const e = err as {
    name?: string;
    Code?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  if (err instanceof S3AccessError) return err.message;
  // The operator's own bound, not the network: says which one, so the tenant can fix their server.
  if (err instanceof S3BoundError) return `${what}: ${err.message}`;
  const status = e.$metadata?.httpStatusCode;
  if (status === undefined)
    return endpoint ? `${what}: ${couldNotConnect(endpoint)}` : `${what}: could not connect to AWS S3`;
  // A HEAD answer has no body, so the SDK names its errors "Unknown": the HTTP status says more.
  const named = e.name ?? e.Code ?? e.code ?? "";
  const code = named === "Unknown" ? `HTTP ${status}` : named;
  if (code === "NoSuchKey" || code === "NotFound" || status === 404) return `${what} does not exist`;
  if (code === "NoSuchBucket") return `${what}: the bucket does not exist`;
  if (
    ["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "XAdminUserNotFound", "Forbidden"].includes(code) ||
    status === 403
  )
    return `${what}: access denied (${code || status}); check the credentials Secret's access key id and secret access key`;
  return `${what}: S3 endpoint ${endpoint ? displayEndpoint(endpoint) : "AWS S3"} answered HTTP ${status}${code && code !== `HTTP ${status}` ? ` (${code})` : ""}`;
}

/** The one message for every failure below HTTP; without an endpoint, for a message that names it already. */
export function couldNotConnect(endpoint?: string): string {
  const to = endpoint ? ` to S3 endpoint ${displayEndpoint(endpoint)}` : "";
  return `could not connect${to}; check that it is up and reachable from the operator, or ask an administrator whether ${S3_ENDPOINT_ALLOW_FLAG} allows it`;
}

const timeout = () => ({ abortSignal: AbortSignal.timeout(S3_TIMEOUT_MS) });

/** One object in the bucket, as a listing gives it. */
export interface StoredObject {
  key: string;
  /** Epoch ms. */
  lastModified: number;
  size?: number;
}

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
