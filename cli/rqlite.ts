// rqlite's HTTP API, reached one of two ways (--transport; cli/kube.ts):
// - the API server's pod proxy (/api/v1/namespaces/N/pods/[https:]P:4001/proxy/...), which works
//   from anywhere kubectl works, with kubectl's credentials, and needs no kubelet; but
//   kube-apiserver removes the Authorization header once it has authenticated the caller, so
//   rqlite's basic auth cannot ride along, and it dials a Pod's HTTPS without checking its
//   certificate, so tls.http's CA plays no part on that hop;
// - a port-forward (portForward.ts), which carries rqlite's credentials to a cluster with auth,
//   and needs the kubelet of the Pod's node (which a simulated runtime does not run).
// Answers are read with the operator's own readers (controller/rqlite/shapes.ts), so both agree
// on what rqlite said.
import type { V1Pod } from "@kubernetes/client-node";
import { KubeApiError } from "../controller/runtime/kubeClient.js";
import { objectPath } from "../controller/runtime/paths.js";
import { rqliteArgs, runsWithAuth } from "../controller/rqcluster/access.js";
import type { ReadLevel as ClientReadLevel } from "../controller/rqlite/client.js";
import {
  readExecuteResults,
  readStatus,
  SqlFailure,
  type ExecuteResult,
  type RqliteStatus,
} from "../controller/rqlite/shapes.js";
import { HTTP_PORT, LABEL_CLUSTER } from "../shared/names.js";
import { apiMessage, CliError } from "./errors.js";
import type { Kube } from "./kube.js";
import { forwardedRequest, PortForwardError } from "./portForward.js";

/** rqlite's read consistency levels; "auto" is left out: it means none or weak by node type. */
export type ReadLevel = Exclude<ClientReadLevel, "auto">;
export const READ_LEVELS: ReadLevel[] = ["none", "weak", "strong", "linearizable"];

/** A query's answer as rqlite gives it: column names and positional rows. */
export interface QueryResult {
  columns: string[];
  types: string[];
  values: unknown[][];
}

/** What rqlite (or the API server in front of it) answered instead of 2xx. */
class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(`HTTP ${status}: ${detail}`);
  }
}

/** One rqlite node, by its Pod. */
export class NodeProxy {
  readonly name: string;
  private readonly https: boolean;
  private readonly auth: boolean;
  /** Through a port-forward instead of the pod proxy. */
  private readonly forward: boolean;

  constructor(
    private readonly kube: Kube,
    private readonly pod: V1Pod,
    private readonly timeoutMs = 10_000,
  ) {
    this.name = pod.metadata!.name!;
    this.https = rqliteArgs(pod).some((a) => a.startsWith("-http-cert="));
    this.auth = runsWithAuth(pod);
    this.forward = kube.transport === "port-forward" || (kube.transport === "auto" && this.auth);
  }

  async status(): Promise<RqliteStatus> {
    return readStatus(await this.call("read /status", "GET", "/status"));
  }

  /** The raw JSON of a GET, for the support bundle. */
  async raw(path: string, query?: Record<string, string | boolean>): Promise<unknown> {
    return this.call(`read ${path}`, "GET", path, query);
  }

  async query(sql: string, level: ReadLevel): Promise<QueryResult> {
    return readQuery(await this.call("run the query", "POST", "/db/query", { level }, [sql]));
  }

  async execute(sql: string): Promise<ExecuteResult[]> {
    const json = await this.call("run the statement", "POST", "/db/execute", {}, [sql]);
    try {
      return readExecuteResults(json);
    } catch (err) {
      throw sqlError(err);
    }
  }

  /** POST /leader?wait: this node (the leader) hands leadership to `to`, or to any voter. */
  async stepdown(to: string | undefined): Promise<void> {
    await this.call("move leadership", "POST", "/leader", { wait: true }, to ? { id: to } : undefined);
  }

  private async call(
    what: string,
    method: "GET" | "POST",
    path: string,
    query?: Record<string, string | boolean>,
    body?: unknown,
  ): Promise<unknown> {
    try {
      return this.forward
        ? await this.callForwarded(method, path, query, body)
        : await this.kube.raw<unknown>({
            method,
            path: `${this.proxyPath()}${path}`,
            ...(query ? { query } : {}),
            ...(body === undefined ? {} : { body }),
            timeoutMs: this.timeoutMs,
          });
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw this.failure(err, what);
    }
  }

  private proxyPath(): string {
    return objectPath({
      apiVersion: "v1",
      resource: "pods",
      namespace: this.kube.namespace,
      name: `${this.https ? "https:" : ""}${this.name}:${HTTP_PORT}`,
      subresource: "proxy",
    });
  }

  private async callForwarded(
    method: "GET" | "POST",
    path: string,
    query?: Record<string, string | boolean>,
    body?: unknown,
  ): Promise<unknown> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.auth) {
      const c = await this.kube.rqliteCredentials(this.pod.metadata?.labels?.[LABEL_CLUSTER] ?? "");
      headers.Authorization = `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
    }
    if (!this.pod.spec?.nodeName)
      throw new PortForwardError("the Pod is on no node, so no kubelet can open a port-forward to it");
    const qs = query ? new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString() : "";
    const answer = await forwardedRequest(
      { kc: this.kube.config, namespace: this.kube.namespace, pod: this.name, port: HTTP_PORT },
      {
        method,
        path: `${path}${qs ? `?${qs}` : ""}`,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        headers,
        https: this.https,
        timeoutMs: this.timeoutMs,
      },
    );
    if (answer.status < 200 || answer.status > 299) throw new HttpFailure(answer.status, answer.body);
    try {
      return answer.body ? JSON.parse(answer.body) : {};
    } catch {
      throw new HttpFailure(answer.status, `not JSON: ${answer.body.slice(0, 200)}`);
    }
  }

  private failure(err: unknown, what: string): CliError {
    const where = `node ${this.name}`;
    if (err instanceof PortForwardError) {
      if (err.status === 403)
        return new CliError(
          `cannot ${what} on ${where}: the port-forward is forbidden by RBAC (${err.message}); it needs create on pods/portforward`,
        );
      return new CliError(
        `cannot ${what} on ${where}: no port-forward to Pod ${this.name} (${err.message}); a port-forward goes through the kubelet of the Pod's node, which a simulated runtime (npm run local without --real) does not run${this.auth ? "" : ": use --transport proxy"}`,
      );
    }
    const failure =
      err instanceof KubeApiError
        ? new HttpFailure(err.status, apiMessage(err))
        : err instanceof HttpFailure
          ? err
          : undefined;
    if (!failure) {
      const message = (err as Error).message;
      if (/timed out/.test(message))
        return new CliError(
          `cannot ${what}: ${where} did not answer within ${this.timeoutMs / 1000} s; check its Pod with kubectl describe pod ${this.name}`,
        );
      return new CliError(
        `cannot ${what} on ${where}: ${message}; check that the API server${this.forward ? " and the Pod's node are" : " is"} up`,
      );
    }
    const detail = failure.detail.trim();
    if (/leader not found|not leader/i.test(detail))
      return new CliError(
        `cannot ${what}: the cluster has no rqlite leader right now (${where} says "${detail}"); wait for an election, or see kubectl rqlite status`,
      );
    if (failure.status === 401)
      return this.forward
        ? new CliError(
            `cannot ${what} on ${where}: rqlite refused the credentials${this.auth ? "" : " (the node runs without auth, yet asked for them)"}; check --rqlite-user and RQLITE_PASSWORD`,
          )
        : new CliError(
            `cannot ${what} on ${where}: rqlite asks for credentials, which the API server's pod proxy does not pass on; this cluster runs with spec.auth: use --transport port-forward`,
          );
    if (failure.status === 403)
      return this.forward
        ? new CliError(`cannot ${what} on ${where}: the rqlite user lacks the permission for it (${detail})`)
        : new CliError(`cannot ${what} on ${where}: forbidden by RBAC (${detail}); it needs create on pods/proxy`);
    if (failure.status === 503 || failure.status === 502)
      return new CliError(
        `cannot ${what} on ${where}: it does not answer (${detail}); check its Pod with kubectl describe pod ${this.name}`,
      );
    return new CliError(`cannot ${what} on ${where}: HTTP ${failure.status}: ${detail}`);
  }
}

/** The first result of a non-associative /db/query, or rqlite's own error for the statement. */
function readQuery(json: unknown): QueryResult {
  const top = json as { error?: string; results?: Array<Partial<QueryResult> & { error?: string }> };
  const first = top.results?.[0];
  const error = top.error || first?.error;
  if (error) throw sqlError(new SqlFailure(error, 0));
  if (!first) throw new CliError(`rqlite answered the query without a result: ${JSON.stringify(json).slice(0, 200)}`);
  return { columns: first.columns ?? [], types: first.types ?? [], values: first.values ?? [] };
}

function sqlError(err: unknown): Error {
  return err instanceof SqlFailure ? new CliError(`rqlite refused the SQL: ${err.message}`) : (err as Error);
}
