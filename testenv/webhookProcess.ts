// Test support for the webhook: certificates from certs/mint-local.sh, the real server as a
// child process on a free loopback port, and a small HTTPS client.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { request as httpRequest } from "node:http";
import { request, Agent } from "node:https";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { TLSSocket } from "node:tls";
import { connect, type Socket } from "node:net";

export const root = fileURLToPath(new URL("..", import.meta.url));
const run = promisify(execFile);

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `rqo-${prefix}-`));
}

/** Mints (or, when dir already has a CA, rotates) ca.crt, tls.crt, tls.key in dir. */
export async function mintCerts(dir: string, sans: string[] = ["127.0.0.1", "localhost"]): Promise<{ ca: Buffer }> {
  await run("bash", [join(root, "certs/mint-local.sh"), dir, ...sans]);
  return { ca: await readFile(join(dir, "ca.crt")) };
}

export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

const children = new Set<ChildProcess>();
// A failing suite must not leave servers behind when mocha exits.
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

export class WebhookProcess {
  readonly logs: LogLine[] = [];
  readonly exited: Promise<number | null>;
  private waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  port = 0;
  metricsPort = 0;

  private constructor(
    readonly child: ChildProcess,
    private readonly stderr: string[],
  ) {
    this.exited = new Promise((resolve) =>
      child.once("exit", (code) => {
        children.delete(child);
        resolve(code);
      }),
    );
    createInterface({ input: child.stdout! }).on("line", (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { msg: text, level: "raw" };
      }
      this.logs.push(line);
      this.waiters = this.waiters.filter((w) => !(w.match(line) && (w.resolve(line), true)));
    });
    child.stderr!.on("data", (d: Buffer) => stderr.push(d.toString()));
  }

  /** Starts webhook/main.ts on 127.0.0.1 with free ports; extra flags may override the defaults. */
  static async start(certDir: string, extraArgs: string[] = []): Promise<WebhookProcess> {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        join(root, "webhook/main.ts"),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--metrics-bind-address",
        "127.0.0.1:0",
        "--cert-dir",
        certDir,
        "--cert-poll-interval",
        "500ms",
        ...extraArgs,
      ],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    children.add(child);
    const proc = new WebhookProcess(child, []);
    const listening = await Promise.race([
      // tsx compiles the webhook first: past 20 s on a loaded machine (see ./webhook.ts).
      proc.waitForLog((l) => l.msg === "webhook server listening", 90_000),
      proc.exited.then((code) => {
        throw new Error(`webhook exited (${code}) before listening: ${proc.output()}`);
      }),
    ]);
    proc.port = listening.port as number;
    proc.metricsPort = listening.metricsPort as number;
    return proc;
  }

  output(): string {
    return [...this.logs.map((l) => JSON.stringify(l)), ...this.stderr].join("\n");
  }

  /** Resolves with the first log line (already seen or yet to come) that matches. */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs = 10_000, after = 0): Promise<LogLine> {
    const seen = this.logs.slice(after).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching log line within ${timeoutMs} ms; output:\n${this.output()}`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  async metrics(): Promise<string> {
    const res = await httpGet(this.metricsPort, "/metrics");
    if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${res.text}`);
    return res.text;
  }

  /** Waits until the server has begun reading `count` requests to `webhook` (its in-flight gauge). */
  async waitInFlight(webhook: string, count: number, timeoutMs = 5000): Promise<void> {
    const series = `controller_runtime_webhook_requests_in_flight{webhook="${webhook}"} ${count}\n`;
    const deadline = Date.now() + timeoutMs;
    while (!(await this.metrics()).includes(series)) {
      if (Date.now() > deadline)
        throw new Error(`${webhook} did not reach ${count} request(s) in flight within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    return this.exited;
  }
}

export function httpGet(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: "127.0.0.1", port, path }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode!, text }));
    })
      .on("error", reject)
      .end();
  });
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The TLS socket the request went over. */
  socket: TLSSocket;
  /** Serial number (upper-case hex) of the certificate the server presented on that socket. */
  peerSerial: string;
  reusedSocket: boolean;
}

export interface RequestOptions {
  method?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  agent?: Agent;
  /** Write the body in pieces and call this between them, e.g. to signal the server mid-request. */
  midBody?: () => Promise<void>;
}

export function httpsRequest(port: number, path: string, ca: Buffer, opts: RequestOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined) {
      headers["content-type"] ??= "application/json";
      headers["content-length"] ??= String(Buffer.byteLength(opts.body));
    }
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: opts.method ?? (opts.body === undefined ? "GET" : "POST"),
        headers,
        ca,
        agent: opts.agent ?? false,
        servername: "localhost",
      },
      (res) => {
        // A keep-alive agent takes the socket back once the response ends: look at it now.
        const socket = res.socket as TLSSocket;
        const peerSerial = socket.getPeerCertificate().serialNumber.toUpperCase();
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            text: Buffer.concat(chunks).toString(),
            socket,
            peerSerial,
            reusedSocket: req.reusedSocket,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (opts.body === undefined) {
      req.end();
    } else if (opts.midBody) {
      const body = Buffer.from(opts.body);
      const half = Math.floor(body.length / 2);
      req.write(body.subarray(0, half));
      opts.midBody().then(() => req.end(body.subarray(half)), reject);
    } else {
      req.end(opts.body);
    }
  });
}

export interface ReviewOptions {
  operation?: "CREATE" | "UPDATE" | "DELETE" | "CONNECT";
  kind?: { group: string; version: string; kind: string };
  object?: unknown;
  oldObject?: unknown;
  uid?: string;
  subResource?: string;
}

export const RQCLUSTER_KIND = { group: "rqlite.io", version: "v1alpha1", kind: "RqCluster" };

let uidCounter = 0;

/** An AdmissionReview as kube-apiserver sends it. */
export function admissionReview(
  o: ReviewOptions,
): Record<string, unknown> & { request: Record<string, unknown> & { uid: string } } {
  const object = (o.object ?? o.oldObject) as { metadata?: { name?: string; namespace?: string } } | undefined;
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: o.uid ?? `00000000-0000-4000-8000-${String(++uidCounter).padStart(12, "0")}`,
      kind: o.kind ?? RQCLUSTER_KIND,
      resource: { group: "rqlite.io", version: "v1alpha1", resource: "rqclusters" },
      requestKind: o.kind ?? RQCLUSTER_KIND,
      requestResource: { group: "rqlite.io", version: "v1alpha1", resource: "rqclusters" },
      ...(o.subResource ? { subResource: o.subResource } : {}),
      name: object?.metadata?.name,
      namespace: object?.metadata?.namespace ?? "default",
      operation: o.operation ?? "CREATE",
      userInfo: { username: "kubernetes-admin", groups: ["system:masters", "system:authenticated"] },
      object: o.object ?? null,
      oldObject: o.oldObject ?? null,
      dryRun: false,
      options: { apiVersion: "meta.k8s.io/v1", kind: "CreateOptions" },
    },
  };
}

export function rqCluster(name: string, spec: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: "rqlite.io/v1alpha1",
    kind: "RqCluster",
    metadata: { name, namespace: "default", ...extra },
    spec,
  };
}

export interface AdmissionAnswer {
  uid: string;
  allowed: boolean;
  status?: {
    code: number;
    reason: string;
    message: string;
    details?: { causes: { field: string; reason: string; message: string }[] };
  };
  patchType?: string;
  patch?: string;
  warnings?: string[];
}

/** Parses an HTTP result as an AdmissionReview response, failing loudly when it is not one. */
export function answerOf(res: HttpResult): AdmissionAnswer {
  if (res.status !== 200) throw new Error(`expected HTTP 200 with an AdmissionReview, got ${res.status}: ${res.text}`);
  const body = JSON.parse(res.text) as { apiVersion: string; kind: string; response: AdmissionAnswer };
  if (body.apiVersion !== "admission.k8s.io/v1" || body.kind !== "AdmissionReview")
    throw new Error(`not an AdmissionReview: ${res.text}`);
  return body.response;
}

export function decodePatch(answer: AdmissionAnswer): { op: string; path: string; value?: unknown }[] {
  return answer.patch
    ? (JSON.parse(Buffer.from(answer.patch, "base64").toString()) as { op: string; path: string; value?: unknown }[])
    : [];
}

/** Raw TCP connections that start a TLS handshake and never finish it. */
export interface HalfOpenHandshakes {
  /** How many the server has not closed yet. */
  open(): number;
  /** Which ones (by index) the server has not closed yet. */
  openNow(): number[];
  /** How many the server closed within `ms` of their connect. */
  closedWithin(ms: number): number;
  /** Milliseconds from connect to close of each one the server closed, of those `which` names. */
  lifetimesMs(which?: number[]): number[];
  destroy(): void;
}

/**
 * A TLS record header announcing a 512-byte handshake message, and the first bytes of a
 * ClientHello: the server waits for the rest, which never comes.
 */
const PARTIAL_CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x5a]);

/**
 * Opens `count` connections to 127.0.0.1:port from `localAddress` (another loopback address
 * stands for another Pod): every other one sends nothing at all, the rest a partial ClientHello.
 * Resolves once every connection is established or refused.
 */
export async function holdHalfOpenHandshakes(
  port: number,
  count: number,
  localAddress = "127.0.0.2",
): Promise<HalfOpenHandshakes> {
  const conns = await Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        new Promise<{ socket: Socket; connectedAt: number; closedAt?: number }>((resolve) => {
          const socket = connect({ host: "127.0.0.1", port, localAddress });
          const conn: { socket: Socket; connectedAt: number; closedAt?: number } = { socket, connectedAt: 0 };
          socket.once("connect", () => {
            conn.connectedAt = Date.now();
            if (i % 2) socket.write(PARTIAL_CLIENT_HELLO);
            resolve(conn);
          });
          socket.on("error", () => {});
          socket.once("close", () => {
            conn.closedAt = Date.now();
            resolve(conn);
          });
        }),
    ),
  );
  const lifetimes = (which?: number[]) =>
    (which ? which.map((i) => conns[i]!) : conns).flatMap((c) =>
      c.closedAt === undefined ? [] : [c.closedAt - c.connectedAt],
    );
  return {
    open: () => conns.filter((c) => c.closedAt === undefined).length,
    openNow: () => conns.flatMap((c, i) => (c.closedAt === undefined ? [i] : [])),
    closedWithin: (ms) => lifetimes().filter((t) => t < ms).length,
    lifetimesMs: lifetimes,
    destroy: () => conns.forEach((c) => c.socket.destroy()),
  };
}
