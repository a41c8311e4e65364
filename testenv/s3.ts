import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { buildBinaries, cacheAssetsDir } from "./assets.js";
import { freePort } from "./ports.js";
import { ProcessGroup, type Managed } from "./processes.js";

/**
 * The real S3-compatible server of the test harness: versitygw (Versity S3 Gateway, Apache-2.0,
 * pinned in hack/tools/versitygw and built by hack/build-binaries.sh), serving a posix folder.
 * Each top-level folder is a bucket and each object a file below it, so a test can also look at
 * what landed on disk.
 */
export const S3_SERVER = { name: "versitygw", source: "github.com/versity/versitygw", version: "v1.8.0" };

export interface S3ServerOptions {
  /** Root user's access key id; a fixed test value by default. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** The region the server answers for; "us-east-1" by default. */
  region?: string;
  /** Buckets to create once the server answers. */
  buckets?: string[];
  /** How long to wait for the server to answer; default 30 s. */
  readyTimeoutMs?: number;
  /** The environment of its build on a cold cache (e.g. RQLITE_OPERATOR_BUILD_NICE). */
  buildEnv?: NodeJS.ProcessEnv;
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3TestServer {
  /** http://127.0.0.1:PORT; the port stays the same across stop()/start(). */
  endpoint: string;
  port: number;
  region: string;
  /** The root user's credentials (full access to every bucket). */
  credentials: S3Credentials;
  /** The posix folder that holds the buckets: <root>/<bucket>/<key>. */
  root: string;
  /** A client for this server, path-style, with the root credentials unless others are given. */
  client(credentials?: S3Credentials): S3Client;
  /** Creates a bucket; an existing one is fine. */
  createBucket(name: string): Promise<void>;
  /** Makes the server unreachable (connection refused) while keeping its data and port. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data, and waits until it answers. */
  start(): Promise<void>;
  /** True between start() and stop(). */
  readonly running: boolean;
  /** Stops the process and removes the folder. */
  close(): Promise<void>;
}

/** The versitygw binary, built on a cold cache (about a minute) and found at once afterwards. */
export async function versitygwBinary(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  await buildBinaries(["versitygw"], env);
  return join(cacheAssetsDir(env), "versitygw");
}

/**
 * Starts versitygw on a free 127.0.0.1 port with a posix backend in a fresh temp folder. The
 * process runs under a ProcessGroup, so it never outlives the test run, even one that is killed.
 */
export async function startS3Server(opts: S3ServerOptions = {}): Promise<S3TestServer> {
  const binary = await versitygwBinary(opts.buildEnv);
  const dir = await mkdtemp(join(tmpdir(), "s3-"));
  const group = new ProcessGroup();
  group.removeOnExit(dir);
  const root = join(dir, "root");
  await mkdir(root);
  const credentials: S3Credentials = {
    accessKeyId: opts.accessKeyId ?? "rqlite-test-access",
    secretAccessKey: opts.secretAccessKey ?? "rqlite-test-secret-key",
  };
  const region = opts.region ?? "us-east-1";
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  let proc: Managed | undefined;

  const client = (creds: S3Credentials = credentials) =>
    new S3Client({ endpoint, region, forcePathStyle: true, credentials: creds, maxAttempts: 1 });

  const launch = async () => {
    // Credentials go through the environment, so they never show in `ps`.
    const env = {
      ...process.env,
      ROOT_ACCESS_KEY: credentials.accessKeyId,
      ROOT_SECRET_KEY: credentials.secretAccessKey,
    };
    proc = group.start(
      "versitygw",
      binary,
      ["--port", `127.0.0.1:${port}`, "--region", region, "--quiet", "posix", root],
      join(dir, "versitygw.log"),
      env,
    );
    await waitAnswering(endpoint, proc, readyTimeoutMs);
  };

  const createBucket = async (name: string) => {
    const c = client();
    try {
      await c.send(new CreateBucketCommand({ Bucket: name }));
    } catch (err) {
      const code = (err as { name?: string }).name;
      if (code !== "BucketAlreadyOwnedByYou" && code !== "BucketAlreadyExists") {
        throw new Error(`creating bucket "${name}" on ${endpoint}: ${(err as Error).message}`, { cause: err });
      }
    } finally {
      c.destroy();
    }
  };

  const running = () => !!proc && proc.child.exitCode === null && proc.child.signalCode === null;

  try {
    await launch();
    for (const b of opts.buckets ?? []) await createBucket(b);
  } catch (err) {
    await group.stopAll();
    throw err;
  }

  return {
    endpoint,
    port,
    region,
    credentials,
    root,
    client,
    createBucket,
    get running() {
      return running();
    },
    async stop() {
      if (proc) await group.stopOne(proc);
    },
    async start() {
      if (running()) return;
      await launch();
    },
    async close() {
      await group.stopAll();
    },
  };
}

/** Waits until the server answers HTTP at all (an unsigned request gets 403), failing fast on exit. */
async function waitAnswering(endpoint: string, proc: Managed, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`versitygw exited before answering on ${endpoint}; its log ends:\n${proc.tail(10)}`);
    }
    try {
      await fetch(endpoint, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      throw new Error(
        `versitygw did not answer on ${endpoint} within ${timeoutMs} ms; its log ends:\n${proc.tail(10)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
