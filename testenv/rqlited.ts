import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RqliteClient, type RqliteClientOptions } from "../controller/rqlite/client.js";
import { buildBinaries, cacheAssetsDir, RQLITED_TOOLS } from "./assets.js";
import { generatePki, issueCert } from "./pki.js";
import { ProcessGroup, type Managed } from "./processes.js";
import { TEST_MAX_ANSWER_BYTES } from "./nodeAccess.js";

const httpPort = 4001;
const raftPort = 4002;

/** One entry of rqlited's -auth file. */
export interface RqliteUser {
  username: string;
  password?: string;
  perms: string[];
}

export interface RqliteClusterOptions {
  /** Number of voters; 1 by default. */
  size?: number;
  /** rqlited version, as built by hack/build-binaries.sh (default 8.43.4). */
  version?: string;
  /** Turns on -auth with these users; `as` is who the helper and `client()` sign in as. */
  auth?: { users: RqliteUser[]; as: { username: string; password: string } };
  /**
   * Serve HTTPS with a certificate from a fresh test CA, valid for every node's address and for
   * the name `rqlite.test` (to exercise dialling by IP while verifying a name, as for a pod).
   */
  tls?: boolean;
  /**
   * Raft over mutual TLS, with the flags the operator renders for spec.tls.node: a certificate
   * from a fresh test CA for every node's address, and -node-verify-client.
   */
  nodeTls?: boolean;
  /** Ready means every node answers /readyz?sync and sees every member; default 30 s. */
  readyTimeoutMs?: number;
}

export interface RqliteNodeProcess {
  /** Raft node id: node-0, node-1, ... */
  id: string;
  /** The node's own loopback address; HTTP on 4001, Raft on 4002, as in a pod. */
  host: string;
  url: string;
  raftAddr: string;
  dataDir: string;
  logFile: string;
}

export interface RqliteTestCluster {
  /** Temp folder with every node's data and log; removed by stop(). */
  dir: string;
  /** PEM of the CA that signed the nodes' certificate, with `tls`. */
  caPem?: string;
  /** The nodes' Raft certificate and key files and their CA, with `nodeTls`. */
  nodePki?: { cert: string; key: string; ca: string };
  nodes: RqliteNodeProcess[];
  node(id: string): RqliteNodeProcess;
  /** A client for one node, signed in as `auth.as` and trusting `caPem` when the cluster has them. */
  client(id: string, opts?: RqliteClientOptions): RqliteClient;
  /** The node that leads, once every running node agrees on one. */
  leader(timeoutMs?: number): Promise<RqliteNodeProcess>;
  /** SIGKILL, as a crashed pod: no graceful stepdown. */
  kill(id: string): Promise<void>;
  /** Starts a killed node again on the same address and data, and waits until it is ready. */
  restart(id: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a real rqlited cluster on loopback. Each node gets its own 127.A.B.n address with the
 * standard ports, so addresses look like pods' and never collide with fixed 127.0.0.1 ports; the
 * 127.A.B prefix is random per cluster so concurrent test runs do not meet. Processes run under
 * a ProcessGroup, so nothing outlives the test run even if it is SIGKILLed.
 */
export async function startRqliteCluster(opts: RqliteClusterOptions = {}): Promise<RqliteTestCluster> {
  const binary = await rqlitedBinary(opts.version ?? "8.43.4");
  // A random prefix can, rarely, be taken by another run: try a fresh one.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binary, opts);
    } catch (err) {
      if (!(err instanceof AddressInUse) || attempt >= 3) throw err;
    }
  }
}

class AddressInUse extends Error {}

async function startOnce(binary: string, opts: RqliteClusterOptions): Promise<RqliteTestCluster> {
  const dir = await mkdtemp(join(tmpdir(), "rqlited-"));
  const group = new ProcessGroup();
  group.removeOnExit(dir);
  try {
    return await startIn(dir, group, binary, opts);
  } catch (err) {
    await group.stopAll();
    throw err;
  }
}

async function startIn(
  dir: string,
  group: ProcessGroup,
  binary: string,
  opts: RqliteClusterOptions,
): Promise<RqliteTestCluster> {
  const size = opts.size ?? 1;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const prefix = `127.${100 + rand(150)}.${rand(256)}`;
  const nodes: RqliteNodeProcess[] = Array.from({ length: size }, (_, i) => {
    const host = `${prefix}.${i + 1}`;
    return {
      id: `node-${i}`,
      host,
      url: `${opts.tls ? "https" : "http"}://${host}:${httpPort}`,
      raftAddr: `${host}:${raftPort}`,
      dataDir: join(dir, `node-${i}`),
      logFile: join(dir, `node-${i}.log`),
    };
  });

  const serverArgs: string[] = [];
  if (opts.auth) {
    const authFile = join(dir, "users.json");
    await writeFile(authFile, JSON.stringify(opts.auth.users), { mode: 0o600 });
    serverArgs.push("-auth", authFile, ...(size > 1 ? ["-join-as", opts.auth.as.username] : []));
  }
  let caPem: string | undefined;
  let nodePki: RqliteTestCluster["nodePki"];
  if (opts.tls || opts.nodeTls) {
    const pkiDir = join(dir, "pki");
    await mkdir(pkiDir);
    const { caCert } = await generatePki(pkiDir);
    const sans = [...nodes.map((n) => `IP:${n.host}`), "DNS:rqlite.test"].join(",");
    if (opts.tls) {
      const { cert, key } = await issueCert(
        pkiDir,
        "rqlite",
        "/CN=rqlite",
        `subjectAltName=${sans}\nextendedKeyUsage=serverAuth\n`,
      );
      caPem = await readFile(caCert, "utf8");
      serverArgs.push("-http-cert", cert, "-http-key", key);
    }
    if (opts.nodeTls) {
      // Each node is the server of the connections it accepts and the client of those it makes.
      const { cert, key } = await issueCert(
        pkiDir,
        "rqlite-node",
        "/CN=rqlite-node",
        `subjectAltName=${sans}\nextendedKeyUsage=serverAuth,clientAuth\n`,
      );
      nodePki = { cert, key, ca: caCert };
      serverArgs.push("-node-cert", cert, "-node-key", key, "-node-ca-cert", caCert, "-node-verify-client");
    }
  }
  const clusterArgs =
    size > 1 ? ["-bootstrap-expect", String(size), "-join", nodes.map((n) => n.raftAddr).join(",")] : [];
  const running = new Map<string, Managed>();
  const launch = (n: RqliteNodeProcess) => {
    const args = [
      "-node-id",
      n.id,
      "-http-addr",
      `${n.host}:${httpPort}`,
      "-raft-addr",
      n.raftAddr,
      ...clusterArgs,
      ...serverArgs,
      n.dataDir,
    ];
    running.set(n.id, group.start(n.id, binary, args, n.logFile));
  };
  const node = (id: string) =>
    nodes.find((n) => n.id === id) ??
    raise(`no rqlite node "${id}" in this cluster (${nodes.map((n) => n.id).join(", ")})`);
  const client = (id: string, clientOpts: RqliteClientOptions = {}) =>
    new RqliteClient(node(id).url, {
      nodeId: id,
      timeoutMs: 2000,
      maxAnswerBytes: TEST_MAX_ANSWER_BYTES,
      ...(opts.auth ? { auth: opts.auth.as } : {}),
      ...(caPem ? { tls: { ca: caPem } } : {}),
      ...clientOpts,
    });

  /** Waits until each given node is ready and sees `size` members, failing fast if one exits. */
  const waitReady = async (ids: string[]) => {
    const deadline = Date.now() + readyTimeoutMs;
    const pending = new Set(ids);
    let last = "";
    while (pending.size) {
      for (const id of pending) {
        const m = running.get(id)!;
        if (!isRunning(m)) {
          const tail = m.tail(10);
          if (tail.includes("address already in use")) throw new AddressInUse(tail);
          throw new Error(
            `rqlited ${id} exited (${await m.exited}) before it was ready; log ${node(id).logFile}:\n${tail}`,
          );
        }
        try {
          const c = client(id, { timeoutMs: 1000 });
          // sync: the node has applied what the leader had committed, so tests start settled.
          const { ready, body } = await c.readyz({ sync: true });
          const members = ready ? (await c.status()).members.length : 0;
          if (ready && members === size) pending.delete(id);
          else last = `${id}: ${ready ? `sees ${members} of ${size} members` : body.replace(/\n/g, " ")}`;
        } catch (err) {
          last = err instanceof Error ? err.message : String(err);
        }
      }
      if (!pending.size) break;
      if (Date.now() > deadline) {
        throw new Error(
          `rqlite nodes ${[...pending].join(", ")} not ready within ${readyTimeoutMs} ms; last: ${last}\n` +
            [...pending].map((id) => `--- ${node(id).logFile}:\n${running.get(id)!.tail(10)}`).join("\n"),
        );
      }
      await sleep(200);
    }
  };

  nodes.forEach(launch);
  await waitReady(nodes.map((n) => n.id));

  return {
    dir,
    ...(caPem ? { caPem } : {}),
    ...(nodePki ? { nodePki } : {}),
    nodes,
    node,
    client,
    stop: () => group.stopAll(),
    async leader(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const alive = nodes.filter((n) => isRunning(running.get(n.id)!));
        const seen = await Promise.all(
          alive.map((n) =>
            client(n.id)
              .status()
              .then(
                (s) => s.leader?.id,
                () => undefined,
              ),
          ),
        );
        const leaderId = seen[0];
        if (leaderId && seen.every((id) => id === leaderId)) return node(leaderId);
        if (Date.now() > deadline)
          throw new Error(
            `the rqlite nodes do not agree on a leader within ${timeoutMs} ms: ${alive.map((n, i) => `${n.id}->${seen[i] ?? "none"}`).join(", ")}`,
          );
        await sleep(200);
      }
    },
    async kill(id) {
      const m = running.get(node(id).id)!;
      try {
        process.kill(-m.child.pid!, "SIGKILL");
      } catch {
        // Already gone.
      }
      await m.exited;
    },
    async restart(id) {
      const m = running.get(node(id).id)!;
      if (isRunning(m)) throw new Error(`rqlite node ${id} is still running; kill it first`);
      launch(node(id));
      await waitReady([id]);
    },
  };
}

/** The rqlited binary of a version, building the cached ones on first use. */
async function rqlitedBinary(version: string): Promise<string> {
  const path = join(cacheAssetsDir(), `rqlited-${version}`);
  if (existsSync(path)) return path;
  await buildBinaries(RQLITED_TOOLS, { ...process.env, TESTENV_QUIET: "1" }).catch((err: Error) => {
    throw new Error(`building rqlited failed: ${err.message}`, { cause: err });
  });
  if (!existsSync(path))
    throw new Error(
      `no rqlited ${version} at ${path}; hack/build-binaries.sh builds the versions pinned in hack/tools/rqlited*/go.mod`,
    );
  return path;
}

const isRunning = (m: Managed) => m.child.exitCode === null && m.child.signalCode === null;
const rand = (n: number) => Math.floor(Math.random() * n);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function raise(message: string): never {
  throw new Error(message);
}
