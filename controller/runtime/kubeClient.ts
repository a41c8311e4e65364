import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from "node:https";
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { performance } from "node:perf_hooks";
import {
  createConfiguration,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  Observable,
  type HttpMethod,
  type RequestContext,
  ServerConfiguration,
  type ApiConstructor,
  type ApiType,
  type Configuration,
  type HttpLibrary,
  type ResponseContext,
} from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import { describeJsonSyntaxError } from "./jsonSyntax.js";
import { counter, histogram } from "./metrics.js";

/**
 * Loads a kubeconfig: the file given, else $KUBECONFIG, else the in-cluster ServiceAccount when
 * running in a Pod, else ~/.kube/config. Fails instead of the client's silent fallback to
 * http://localhost:8080, which would only show up later as a confusing connection error.
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const env = process.env;
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else if (!env.KUBECONFIG && env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  const server = kc.getCurrentCluster()?.server;
  if (!server || (server === "http://localhost:8080" && !path)) {
    throw new Error(
      `no Kubernetes cluster configured: ${path ? `kubeconfig ${path} has no current cluster` : "pass a kubeconfig, set KUBECONFIG, or run in a Pod"}`,
    );
  }
  return kc;
}

/** A failed request, with the Kubernetes Status reason when the server sent one. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string | undefined,
    readonly method: string,
    readonly path: string,
    detail: string,
  ) {
    super(`${method} ${path}: HTTP ${status}${reason ? ` ${reason}` : ""}: ${detail}`);
  }
}

export interface KubeRequest {
  method: `${HttpMethod}`;
  /** Path from the server root, e.g. /apis/coordination.k8s.io/v1/namespaces/ns/leases/name */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Defaults to application/json; set it for merge or strategic-merge patches. */
  contentType?: string;
  /** Abandons the request (and counts it as an error) after this long. */
  timeoutMs?: number;
  /** Abandons the request when aborted, e.g. when its caller is stopping. */
  signal?: AbortSignal;
  /**
   * Sends it on a connection of its own instead of a pooled keep-alive one. Informers list this
   * way: a re-list follows a watch that failed or went silent, and the pooled connections may
   * have gone silent the same way.
   */
  freshConnection?: boolean;
}

/** One line of a watch stream; `object` is a Status when type is ERROR. */
export interface WatchEvent<T = unknown> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

/** Idle pooled connections close after this, before the server's own idle timeout can race a reuse. */
const IDLE_SOCKET_MS = 30_000;
/** Idle connections kept for reuse; bursts beyond it open connections that then close. */
const MAX_IDLE_SOCKETS = 16;

/** Labels as client-go's rest client metrics have them, so existing dashboards work. */
type RequestLabels = "code" | "method" | "host";

/**
 * API clients for one cluster, all counting their requests in `rest_client_requests_total` and
 * `rest_client_request_duration_seconds`. The typed clients of @kubernetes/client-node go through
 * a counting HttpLibrary; raw JSON requests and watch streams (which the typed clients cannot
 * stream) are counted the same way.
 */
export class KubeClient {
  readonly server: string;
  private readonly host: string;
  private readonly httpApi: HttpLibrary;
  private readonly configuration: Configuration;
  private readonly requests;
  private readonly latency;
  /** Keep-alive connections for request(), with the TLS material they were made for. */
  private pooled?: { identity: string; agent: HttpAgent };

  constructor(
    readonly kc: KubeConfig,
    readonly registry: Registry,
  ) {
    this.server = kc.getCurrentCluster()!.server.replace(/\/+$/, "");
    this.host = new URL(this.server).host;
    this.requests = counter<RequestLabels>(
      registry,
      "rest_client_requests_total",
      "Number of HTTP requests, partitioned by status code, method, and host.",
      ["code", "method", "host"],
    );
    this.latency = histogram<"verb" | "host">(
      registry,
      "rest_client_request_duration_seconds",
      "Request latency in seconds. Broken down by verb, and host.",
      ["verb", "host"],
      [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
    );
    this.httpApi = new CountingHttpLibrary(new IsomorphicFetchHttpLibrary(), (m, c, s) => this.record(m, c, s));
    this.configuration = createConfiguration({
      baseServer: new ServerConfiguration(this.server, {}),
      authMethods: { default: kc },
      httpApi: this.httpApi,
    });
  }

  /** From a kubeconfig file, or the default places (see loadKubeConfig). */
  static load(registry: Registry, kubeconfigPath?: string): KubeClient {
    return new KubeClient(loadKubeConfig(kubeconfigPath), registry);
  }

  /** A typed client, e.g. `client.api(CoreV1Api)` or `client.api(KubernetesObjectApi)`. */
  api<T extends ApiType>(apiClass: ApiConstructor<T>): T {
    return new apiClass(this.configuration);
  }

  /** A raw JSON request; resolves with the parsed body of a 2xx answer, throws KubeApiError otherwise. */
  async request<T>(req: KubeRequest): Promise<T> {
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    const headers: Record<string, string | number> = { Accept: "application/json" };
    if (body !== undefined)
      Object.assign(headers, {
        "Content-Type": req.contentType ?? "application/json",
        "Content-Length": Buffer.byteLength(body),
      });
    const opts = await this.requestOptions(req.method, headers, req.freshConnection === true);
    // One timer per request, cleared when it settles: AbortSignal.timeout() would keep every
    // finished request's timer (and AbortSignal.any its signals) alive until it fires.
    const abort = new AbortController();
    const onAbort = () => abort.abort(req.signal?.reason);
    req.signal?.addEventListener("abort", onAbort, { once: true });
    if (req.signal?.aborted) onAbort();
    const timer =
      req.timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => abort.abort(new Error(`timed out after ${req.timeoutMs} ms`)),
            Math.max(1, Math.ceil(req.timeoutMs)),
          );
    const started = performance.now();
    try {
      let res: IncomingMessage;
      let text: string;
      try {
        res = await this.send(new URL(this.url(req.path, req.query)), opts, abort.signal, body);
        const chunks: Buffer[] = [];
        for await (const chunk of res) chunks.push(chunk as Buffer);
        text = Buffer.concat(chunks).toString("utf8");
      } catch (err) {
        this.record(req.method, "<error>", (performance.now() - started) / 1000);
        // A connection that timed out or broke may have company in the pool: start a new pool.
        if (!req.signal?.aborted && this.pooled?.agent === opts.agent) this.pooled = undefined;
        const cause = abort.signal.aborted && abort.signal.reason instanceof Error ? abort.signal.reason : err;
        throw new Error(`${req.method} ${req.path}: ${(cause as Error).message}`, { cause: err });
      }
      this.record(req.method, String(res.statusCode), (performance.now() - started) / 1000);
      if (res.statusCode! < 200 || res.statusCode! > 299)
        throw statusError(res.statusCode!, text, req.method, req.path);
      if (!text) return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch {
        // A body cut short can be a Secret's: JSON.parse's message would quote it into the logs.
        throw new Error(
          `${req.method} ${req.path}: HTTP ${res.statusCode}: the response body (${text.length} characters) is ${describeJsonSyntaxError(text)}`,
        );
      }
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Opens a watch (`watch=true` is added) and resolves once the server answers 200, with the
   * stream of events; the stream ends when the server closes the watch or `signal` aborts, and
   * throws when the connection fails. Aborting works at any point, even before the server
   * answers, which the client's own Watch cannot do.
   */
  async watch<T>(
    path: string,
    query: KubeRequest["query"],
    signal: AbortSignal,
  ): Promise<AsyncIterable<WatchEvent<T>>> {
    const url = new URL(this.url(path, { ...query, watch: true }));
    // A watch holds its connection for minutes: its own, not one of the pooled ones.
    const opts: RequestOptions = { method: "GET", headers: { Accept: "application/json" } };
    await this.kc.applyToHTTPSOptions(opts);
    const started = performance.now();
    const res = await this.send(url, opts, signal).catch((err: Error) => {
      this.record("GET", "<error>", (performance.now() - started) / 1000);
      throw new Error(`watch ${path}: ${err.message}`, { cause: err });
    });
    this.record("GET", String(res.statusCode), (performance.now() - started) / 1000);
    if (res.statusCode !== 200) {
      let text = "";
      for await (const chunk of res) text += String(chunk);
      throw statusError(res.statusCode ?? 0, text, "GET", `${path} (watch)`);
    }
    res.setEncoding("utf8");
    return jsonLines<WatchEvent<T>>(res, signal, `GET ${path} (watch)`);
  }

  /**
   * How many requests this registry has counted, optionally only some HTTP methods or codes.
   * Tests use it to prove a steady state causes no writes.
   */
  async requestCount(filter: { method?: string | string[]; code?: string } = {}): Promise<number> {
    const methods = filter.method === undefined ? undefined : [filter.method].flat();
    const { values } = await this.requests.get();
    return values
      .filter((v) => v.labels.host === this.host)
      .filter((v) => !methods || methods.includes(String(v.labels.method)))
      .filter((v) => filter.code === undefined || String(v.labels.code) === filter.code)
      .reduce((sum, v) => sum + v.value, 0);
  }

  /**
   * Options for a pooled request: the kubeconfig's credentials (applied per request, so rotated
   * tokens are picked up) on a keep-alive agent. The client makes a new agent per call, which
   * costs a TLS handshake and a fresh secure context (parsing CA, cert and key) every time; the
   * pooled agent is replaced when the TLS material changes and after a failed request. The
   * connections of a replaced pool close once idle.
   */
  private async requestOptions(
    method: string,
    headers: Record<string, string | number>,
    fresh: boolean,
  ): Promise<RequestOptions> {
    const opts: RequestOptions = { method, headers };
    await this.kc.applyToHTTPSOptions(opts);
    // The client's own agent: one connection, closed after the answer; through proxies, the
    // agent that knows how to tunnel.
    if (fresh || this.kc.getCurrentCluster()?.proxyUrl) return opts;
    const tls = [opts.ca, opts.cert, opts.key, opts.pfx, opts.passphrase, opts.rejectUnauthorized, opts.servername].map(
      (v) => (Buffer.isBuffer(v) ? v.toString("base64") : v),
    );
    const identity = JSON.stringify(tls);
    if (this.pooled?.identity !== identity) {
      const { ca, cert, key, pfx, passphrase, rejectUnauthorized, servername } = opts;
      const options = { keepAlive: true, timeout: IDLE_SOCKET_MS, maxFreeSockets: MAX_IDLE_SOCKETS };
      this.pooled = {
        identity,
        agent: this.server.startsWith("https:")
          ? new HttpsAgent({
              ...options,
              ca,
              cert,
              key,
              pfx,
              passphrase,
              servername,
              ...(rejectUnauthorized === undefined ? {} : { rejectUnauthorized }),
            })
          : new HttpAgent(options),
      };
    }
    return { ...opts, agent: this.pooled.agent };
  }

  /** Sends one HTTP request and resolves with the response once its headers arrive. */
  private send(url: URL, opts: RequestOptions, signal: AbortSignal, body?: string): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      const send = url.protocol === "https:" ? httpsRequest : httpRequest;
      const r = send(url, { ...opts, signal }, resolve);
      r.on("error", reject);
      r.end(body);
    });
  }

  private url(path: string, query: KubeRequest["query"] = {}): string {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url.toString();
  }

  private record(method: string, code: string, seconds: number): void {
    this.requests.inc({ code, method, host: this.host });
    this.latency.observe({ verb: method, host: this.host }, seconds);
  }
}

/** Wraps the client's HTTP library to time and count every request the typed clients send. */
class CountingHttpLibrary implements HttpLibrary {
  constructor(
    private readonly inner: HttpLibrary,
    private readonly record: (method: string, code: string, seconds: number) => void,
  ) {}

  send(req: RequestContext): Observable<ResponseContext> {
    const started = performance.now();
    const method = req.getHttpMethod();
    const seconds = () => (performance.now() - started) / 1000;
    return new Observable(
      this.inner
        .send(req)
        .toPromise()
        .then(
          (res) => {
            this.record(method, String(res.httpStatusCode), seconds());
            return res;
          },
          (err: unknown) => {
            // client-go's code label for a request that got no HTTP answer at all.
            this.record(method, "<error>", seconds());
            throw err;
          },
        ),
    );
  }
}

function statusError(code: number, text: string, method: string, path: string): KubeApiError {
  let status: { reason?: string; message?: string } = {};
  try {
    status = JSON.parse(text) as typeof status;
  } catch {
    // Not a Status object (a proxy's HTML page, say); the raw text is the detail.
  }
  return new KubeApiError(
    code,
    status.reason,
    method,
    path,
    status.message ?? (text.trim().slice(0, 500) || "no body"),
  );
}

/** Splits a stream of newline-delimited JSON into parsed objects; ends quietly once aborted. */
async function* jsonLines<T>(stream: AsyncIterable<string>, signal: AbortSignal, what: string): AsyncGenerator<T> {
  let buffered = "";
  try {
    for await (const chunk of stream) {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line) yield parseWatchLine<T>(line, what);
      }
    }
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  }
  if (buffered.trim() && !signal.aborted) yield parseWatchLine<T>(buffered, what);
}

/** A watch event may carry any object, a Secret too: a parse error says where, never what. */
function parseWatchLine<T>(line: string, what: string): T {
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`${what}: an event (${line.length} characters) is ${describeJsonSyntaxError(line)}`);
  }
}
