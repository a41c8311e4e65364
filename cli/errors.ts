// Every failure the plugin reports is one line: what failed and what to do. Usage errors exit 2,
// everything else 1, as kubectl does.
import { KubeApiError } from "../controller/runtime/kubeClient.js";

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A failure already phrased for the user. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
  }
}

/** A mistake in how the command was called (bad flag value, wrong node name): exit 2. */
export const usageError = (message: string) => new CliError(message, EXIT_USAGE);

/** Transport failures that mean the API server itself did not answer. */
const UNREACHABLE = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ECONNRESET|EAI_AGAIN|timed out|socket hang up/i;

/**
 * Turns what a Kubernetes request threw into one line for `what` (e.g. "get RqCluster ns/demo").
 * `server` is the API server's URL, named when it could not be reached.
 */
export function kubeFailure(err: unknown, what: string, server: string): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof KubeApiError) {
    const detail = apiMessage(err);
    if (err.status === 401)
      return new CliError(
        `cannot ${what}: the API server at ${server} rejected your credentials; log in again or pick another --context`,
      );
    if (err.status === 403)
      return new CliError(
        `cannot ${what}: forbidden by RBAC (${detail}); ask a cluster admin for a Role that allows it`,
      );
    return new CliError(`cannot ${what}: ${detail}`);
  }
  const message = err instanceof Error ? err.message : String(err);
  if (UNREACHABLE.test(message))
    return new CliError(
      `cannot reach the Kubernetes API server at ${server} (${causeOf(message)}); check --kubeconfig and --context, and that the cluster is up`,
    );
  return new CliError(`cannot ${what}: ${message}`);
}

/** The API server's own message, without the client's method/path prefix. */
export function apiMessage(err: KubeApiError): string {
  const prefix = `${err.method} ${err.path}: HTTP ${err.status}${err.reason ? ` ${err.reason}` : ""}: `;
  return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
}

/** "GET /api/...: connect ECONNREFUSED 127.0.0.1:1" -> "connect ECONNREFUSED 127.0.0.1:1" */
const causeOf = (message: string) => message.replace(/^[A-Z]+ \/\S*: /, "");
