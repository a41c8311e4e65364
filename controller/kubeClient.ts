import { request as httpsRequest, type RequestOptions } from "node:https";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { performance } from "node:perf_hooks";
import {
  createConfiguration, HttpMethod, IsomorphicFetchHttpLibrary, KubeConfig, Observable, RequestContext,
  ServerConfiguration, type ApiConstructor, type ApiType, type Configuration, type HttpLibrary, type ResponseContext,
} from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import { counter, histogram } from "./metricsRegistry.js";

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
    throw new Error(`no Kubernetes cluster configured: ${path ? `kubeconfig ${path} has no current cluster` : "pass a kubeconfig, set KUBECONFIG, or run in a Pod"}`);
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
}

/** One line of a watch stream; `object` is a Status when type is ERROR. */
export interface WatchEvent<T = unknown> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

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

  constructor(readonly kc: KubeConfig, readonly registry: Registry) {
    this.server = kc.getCurrentCluster()!.server.replace(/\/+$/, "");
    this.host = new URL(this.server).host;
    this.requests = counter<RequestLabels>(registry, "rest_client_requests_total",
      "Number of HTTP requests, partitioned by status code, method, and host.", ["code", "method", "host"]);
    this.latency = histogram<"verb" | "host">(registry, "rest_client_request_duration_seconds",
      "Request latency in seconds. Broken down by verb, and host.", ["verb", "host"],
      [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60]);
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
    const ctx = new RequestContext(this.url(req.path, req.query), req.method as HttpMethod);
    ctx.setHeaderParam("Accept", "application/json");
    if (req.body !== undefined) {
      ctx.setHeaderParam("Content-Type", req.contentType ?? "application/json");
      ctx.setBody(JSON.stringify(req.body));
    }
    const signals = [req.signal, req.timeoutMs === undefined ? undefined : AbortSignal.timeout(Math.max(1, Math.ceil(req.timeoutMs)))];
    const abortable = signals.filter((s): s is AbortSignal => s !== undefined);
    if (abortable.length) ctx.setSignal(AbortSignal.any(abortable));
    await this.kc.applySecurityAuthentication(ctx);
    let res: ResponseContext;
    try {
      res = await this.httpApi.send(ctx).toPromise();
    } catch (err) {
      throw new Error(`${req.method} ${req.path}: ${(err as Error).message}`, { cause: err });
    }
    const text = await res.body.text();
    if (res.httpStatusCode < 200 || res.httpStatusCode > 299) throw statusError(res.httpStatusCode, text, req.method, req.path);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * Opens a watch (`watch=true` is added) and resolves once the server answers 200, with the
   * stream of events; the stream ends when the server closes the watch or `signal` aborts, and
   * throws when the connection fails. Aborting works at any point, even before the server
   * answers, which the client's own Watch cannot do.
   */
  async watch<T>(path: string, query: KubeRequest["query"], signal: AbortSignal): Promise<AsyncIterable<WatchEvent<T>>> {
    const url = new URL(this.url(path, { ...query, watch: true }));
    const opts: RequestOptions = { method: "GET", headers: { Accept: "application/json" } };
    await this.kc.applyToHTTPSOptions(opts);
    const started = performance.now();
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const send = url.protocol === "https:" ? httpsRequest : httpRequest;
      const r = send(url, { ...opts, signal }, resolve);
      r.on("error", reject);
      r.end();
    }).catch((err: Error) => {
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
    return jsonLines<WatchEvent<T>>(res, signal);
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
    return new Observable(this.inner.send(req).toPromise().then(
      (res) => {
        this.record(method, String(res.httpStatusCode), seconds());
        return res;
      },
      (err: unknown) => {
        // client-go's code label for a request that got no HTTP answer at all.
        this.record(method, "<error>", seconds());
        throw err;
      },
    ));
  }
}

function statusError(code: number, text: string, method: string, path: string): KubeApiError {
  let status: { reason?: string; message?: string } = {};
  try {
    status = JSON.parse(text);
  } catch {
    // Not a Status object (a proxy's HTML page, say); the raw text is the detail.
  }
  return new KubeApiError(code, status.reason, method, path, status.message ?? (text.trim().slice(0, 500) || "no body"));
}

/** Splits a stream of newline-delimited JSON into parsed objects; ends quietly once aborted. */
async function* jsonLines<T>(stream: AsyncIterable<string>, signal: AbortSignal): AsyncGenerator<T> {
  let buffered = "";
  try {
    for await (const chunk of stream) {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line) yield JSON.parse(line) as T;
      }
    }
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  }
  if (buffered.trim() && !signal.aborted) yield JSON.parse(buffered) as T;
}
