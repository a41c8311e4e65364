/**
 * What went wrong, coarse enough to branch on: a reconcile treats `timeout`, `connection-refused`
 * and `network` as "node not answering", `unauthorized` as a configuration problem, and `http`
 * with its status as rqlite's own refusal (e.g. 503 while there is no leader).
 */
export type RqliteErrorKind =
  /** The caller passed something unusable (a bad base URL, no SQL); nothing was sent. */
  | "invalid-argument"
  /** No complete answer within the call's time limit. */
  | "timeout"
  /** Nothing listens at the address: the node is down or not started yet. */
  | "connection-refused"
  /** Any other transport failure: reset, unreachable, closed mid-answer. */
  | "network"
  /** The TLS handshake failed, e.g. the server certificate is not signed by the given CA. */
  | "tls"
  /** 401/403: credentials missing, wrong, or without the permission the call needs. */
  | "unauthorized"
  /**
   * rqlite could not serve the call for want of a leader (an election, or quorum lost). It says
   * so with 503 or, for some calls, 500 "leader address: leader not found": the kind covers both.
   */
  | "no-leader"
  /** Any other status rqlite did not answer with success. */
  | "http"
  /** The answer was not the JSON (or file) rqlite documents. */
  | "bad-response"
  /** The node answered, but its store is not open yet (early in startup). */
  | "unavailable"
  /** A statement sent to /db/execute or /db/query failed. */
  | "sql";

export interface RqliteErrorDetails {
  /** The node's base URL, e.g. http://127.0.0.2:4001. */
  node: string;
  /** The node's Raft id, when the caller knows it. */
  nodeId?: string;
  /** The call, e.g. "GET /status". */
  call: string;
  kind: RqliteErrorKind;
  /** What failed, in words: "timed out after 2000 ms", "HTTP 503: leader not found". */
  detail: string;
  status?: number;
  /** The start of the response body, when there was one. */
  body?: string;
  cause?: unknown;
}

/** The only error the rqlite client throws: it says which node, which call and what failed. */
export class RqliteError extends Error {
  override readonly name = "RqliteError";
  readonly node: string;
  readonly nodeId: string | undefined;
  readonly call: string;
  readonly kind: RqliteErrorKind;
  readonly status: number | undefined;
  readonly body: string | undefined;

  constructor(d: RqliteErrorDetails) {
    const who = d.nodeId ? `node ${d.nodeId} at ${d.node}` : `node at ${d.node}`;
    super(`rqlite ${who}: ${d.call}: ${d.detail}`, d.cause === undefined ? undefined : { cause: d.cause });
    this.node = d.node;
    this.nodeId = d.nodeId;
    this.call = d.call;
    this.kind = d.kind;
    this.status = d.status;
    this.body = d.body;
  }
}

/** The first `max` characters of a body on one line, for error messages. */
export function excerpt(body: string, max = 300): string {
  const line = body.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max)}...` : line;
}

const tlsCodes = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH)/;

/** Maps a Node socket/TLS error to a kind and a sentence that keeps the errno code. */
export function classifyTransportError(err: unknown): { kind: RqliteErrorKind; detail: string } {
  const code = typeof err === "object" && err !== null && "code" in err ? String(err.code) : "";
  const message = err instanceof Error ? err.message : String(err);
  if (code === "ECONNREFUSED") return { kind: "connection-refused", detail: `connection refused (${message})` };
  if (tlsCodes.test(code) || /certificate|SSL routines|TLS/i.test(message)) {
    return { kind: "tls", detail: `TLS failed: ${message}${code ? ` [${code}]` : ""}` };
  }
  return { kind: "network", detail: `network error: ${message}${code && !message.includes(code) ? ` [${code}]` : ""}` };
}
