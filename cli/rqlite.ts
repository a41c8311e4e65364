// rqlite's HTTP API reached through the API server's pod proxy
// (/api/v1/namespaces/N/pods/[https:]P:4001/proxy/...), so the plugin works from anywhere kubectl
// works, with kubectl's credentials and no port-forward. Answers are read with the operator's
// own readers (controller/rqlite/shapes.ts), so both agree on what rqlite said.
//
// Two limits of the pod proxy: kube-apiserver removes the Authorization header once it has
// authenticated the caller, so rqlite's basic auth cannot ride along (a cluster with spec.auth
// answers 401, reported as such); and it dials a Pod's HTTPS without checking its certificate,
// so tls.http's CA plays no part on that hop.
import type { V1Pod } from "@kubernetes/client-node";
import { KubeApiError } from "../controller/runtime/kubeClient.js";
import { objectPath } from "../controller/runtime/paths.js";
import { rqliteArgs } from "../controller/access/cluster.js";
import type { ReadLevel as ClientReadLevel } from "../controller/rqlite/client.js";
import {
  readExecuteResults,
  readStatus,
  SqlFailure,
  type ExecuteResult,
  type RqliteStatus,
} from "../controller/rqlite/shapes.js";
import { HTTP_PORT } from "../shared/names.js";
import { apiMessage, CliError } from "./errors.js";
import type { Kube } from "./kube.js";

/** rqlite's read consistency levels; "auto" is left out: it means none or weak by node type. */
export type ReadLevel = Exclude<ClientReadLevel, "auto">;
export const READ_LEVELS: ReadLevel[] = ["none", "weak", "strong", "linearizable"];

/** A query's answer as rqlite gives it: column names and positional rows. */
export interface QueryResult {
  columns: string[];
  types: string[];
  values: unknown[][];
}

/** One rqlite node, by its Pod. */
export class NodeProxy {
  readonly name: string;
  private readonly base: string;

  constructor(
    private readonly kube: Kube,
    pod: V1Pod,
    private readonly timeoutMs = 10_000,
  ) {
    this.name = pod.metadata!.name!;
    const https = rqliteArgs(pod).some((a) => a.startsWith("-http-cert="));
    this.base = objectPath({
      apiVersion: "v1",
      resource: "pods",
      namespace: kube.namespace,
      name: `${https ? "https:" : ""}${this.name}:${HTTP_PORT}`,
      subresource: "proxy",
    });
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
      return await this.kube.raw<unknown>({
        method,
        path: `${this.base}${path}`,
        ...(query ? { query } : {}),
        ...(body === undefined ? {} : { body }),
        timeoutMs: this.timeoutMs,
      });
    } catch (err) {
      throw this.failure(err, what);
    }
  }

  private failure(err: unknown, what: string): CliError {
    const where = `node ${this.name}`;
    if (!(err instanceof KubeApiError)) {
      const message = (err as Error).message;
      if (/timed out/.test(message))
        return new CliError(
          `cannot ${what}: ${where} did not answer within ${this.timeoutMs / 1000} s; check its Pod with kubectl describe pod ${this.name}`,
        );
      return new CliError(`cannot ${what} on ${where}: ${message}; check that the API server is up`);
    }
    const detail = apiMessage(err);
    if (/leader not found|not leader/i.test(detail))
      return new CliError(
        `cannot ${what}: the cluster has no rqlite leader right now (${where} says "${detail.trim()}"); wait for an election, or see kubectl rqlite status`,
      );
    if (err.status === 401)
      return new CliError(
        `cannot ${what} on ${where}: rqlite asks for credentials, which the API server's pod proxy does not pass on; this cluster runs with spec.auth, reach it with rqlite's own client instead`,
      );
    if (err.status === 403)
      return new CliError(`cannot ${what} on ${where}: forbidden by RBAC (${detail}); it needs create on pods/proxy`);
    if (err.status === 503 || err.status === 502)
      return new CliError(
        `cannot ${what} on ${where}: it does not answer (${detail.trim()}); check its Pod with kubectl describe pod ${this.name}`,
      );
    return new CliError(`cannot ${what} on ${where}: HTTP ${err.status}: ${detail.trim()}`);
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
