import {
  DEFAULT_MAX_ANSWER_BYTES,
  failure,
  callName,
  openStream,
  parseJson,
  send,
  statusFailure,
  type Endpoint,
  type HttpCall,
  type HttpReply,
} from "./transport.js";
import type { Readable } from "node:stream";
import { excerpt, RqliteError } from "./errors.js";
import {
  readNodeStats,
  readRestoreCounts,
  readUploadCounts,
  type NodeStats,
  type RestoreCounts,
  type UploadCounts,
} from "./nodeStats.js";
import {
  readExecuteResults,
  readLoadAnswer,
  readNode,
  readNodes,
  readRows,
  readStatus,
  ShapeError,
  SqlFailure,
  storeClosed,
  type ExecuteResult,
  type Row,
  type RqliteNode,
  type RqliteStatus,
  type Statement,
} from "./shapes.js";

export { RqliteError, type RqliteErrorKind } from "./errors.js";
export { DEFAULT_MAX_ANSWER_BYTES } from "./transport.js";
export type { NodeStats, RestoreCounts, UploadCounts } from "./nodeStats.js";
export type {
  ExecuteResult,
  RaftMember,
  RaftState,
  Row,
  RqliteNode,
  RqliteStatus,
  SqlValue,
  Statement,
} from "./shapes.js";

export interface RqliteClientOptions {
  /** The node's Raft id when known, so errors name it. */
  nodeId?: string;
  /** The operator's own rqlite user (rqlite's -auth file). */
  auth?: { username: string; password: string };
  /** For https:// base URLs: the CA bundle (PEM) and, when dialling by IP, the name on the certificate. */
  tls?: { ca?: string | Buffer; serverName?: string };
  /** Time limit of every call unless the call says otherwise. Default 5000 ms. */
  timeoutMs?: number;
  /**
   * The largest answer read into memory (a backup stream excepted); a larger one fails the call
   * with kind "bad-response". Default DEFAULT_MAX_ANSWER_BYTES (4 MiB).
   */
  maxAnswerBytes?: number;
}

export interface CallOptions {
  timeoutMs?: number;
}

export interface ReadyzOptions extends CallOptions {
  /** Only ask whether the node serves HTTP, not whether it knows a leader. */
  noleader?: boolean;
  /** Also wait until this node has applied everything the leader had committed. */
  sync?: boolean;
}

export interface BackupStreamOptions {
  /** "binary" (an SQLite file, the default) or "sql" (a text dump of SQL statements). */
  format?: "binary" | "sql";
  /** rqlite gzips the answer. */
  compress?: boolean;
  /** rqlite vacuums the copy first (binary only, as rqlite refuses it for sql). */
  vacuum?: boolean;
  /** Limit for the answer to start (rqlite copies or vacuums the database first). Default 60 s. */
  timeoutMs?: number;
  /** The transfer fails when no byte arrives for this long. Default 30 s. */
  idleTimeoutMs?: number;
}

export interface BackupStream {
  body: Readable;
  contentType: string | undefined;
  /** The node that served it when a follower forwarded the call (rqlite's X-Rqlite-Served-By). */
  servedBy: string | undefined;
}

export interface Readiness {
  ready: boolean;
  /** rqlite's checklist, e.g. "[+]node ok\n[+]leader does not exist". */
  body: string;
}

/** Read consistency of /db/query, as rqlite names it. */
export type ReadLevel = "none" | "weak" | "strong" | "linearizable" | "auto";

export interface QueryOptions extends CallOptions {
  level?: ReadLevel;
}

/** What `transferLeadership` did: moved it, or found the target already leading. */
export type TransferOutcome = "transferred" | "already-leader";
/** What `removeNode` did: removed the member, or found it was not one (nothing to do). */
export type RemoveOutcome = "removed" | "not-member";

const defaultTimeoutMs = 5000;
const sqliteMagic = Buffer.from("SQLite format 3\0", "latin1");

/**
 * An HTTP client for one rqlite node. Every call has a time limit and either resolves with a
 * typed result or rejects with an RqliteError that names the node, the call and the cause.
 *
 * Calls that rqlite serves through the leader (transfer, remove, backup, execute, strong reads)
 * may be sent to any member: a follower forwards them. Calls where rqlite itself waits on other
 * nodes get a server-side limit below the client's, so rqlite's own explanation arrives before
 * the client gives up.
 */
export class RqliteClient {
  readonly baseUrl: string;
  private readonly ep: Endpoint;
  private readonly timeoutMs: number;
  private readonly maxAnswerBytes: number;

  constructor(baseUrl: string, opts: RqliteClientOptions = {}) {
    const invalid = (detail: string) =>
      new RqliteError({
        node: baseUrl,
        ...(opts.nodeId ? { nodeId: opts.nodeId } : {}),
        call: "new RqliteClient",
        kind: "invalid-argument",
        detail,
      });
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw invalid(`"${baseUrl}" is not a URL; expected http://HOST:PORT or https://HOST:PORT`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw invalid(`scheme ${url.protocol} is not http: or https:`);
    if (url.pathname !== "/" || url.search || url.username)
      throw invalid("the base URL must be scheme://host:port only (credentials go in the auth option)");
    if (opts.tls && url.protocol !== "https:") throw invalid("TLS options were given for an http:// URL");
    if (opts.timeoutMs !== undefined && !(opts.timeoutMs > 0))
      throw invalid(`timeoutMs must be positive, got ${opts.timeoutMs}`);
    if (opts.maxAnswerBytes !== undefined && !(opts.maxAnswerBytes > 0))
      throw invalid(`maxAnswerBytes must be positive, got ${opts.maxAnswerBytes}`);
    this.baseUrl = url.origin;
    this.timeoutMs = opts.timeoutMs ?? defaultTimeoutMs;
    this.maxAnswerBytes = opts.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
    this.ep = {
      baseUrl: url,
      ...(opts.nodeId ? { nodeId: opts.nodeId } : {}),
      ...(opts.auth ? { auth: opts.auth } : {}),
      ...(opts.tls?.ca ? { ca: opts.tls.ca } : {}),
      ...(opts.tls?.serverName ? { serverName: opts.tls.serverName } : {}),
    };
  }

  /** GET /status: identity, Raft state, leader, indexes, membership and version. */
  async status(opts: CallOptions = {}): Promise<RqliteStatus> {
    const call = this.call("GET", "/status", "status", opts);
    const json = parseJson(this.ep, call, await this.expectOk(call));
    if (storeClosed(json)) throw failure(this.ep, callName(call), "unavailable", "the node's store is not open yet");
    return this.shape(call, () => readStatus(json));
  }

  /** GET /status, read for the metrics the operator exports about this node. */
  async nodeStats(opts: CallOptions = {}): Promise<NodeStats> {
    const call = this.call("GET", "/status", "status", opts);
    const json = parseJson(this.ep, call, await this.expectOk(call));
    if (storeClosed(json)) throw failure(this.ep, callName(call), "unavailable", "the node's store is not open yet");
    return this.shape(call, () => readNodeStats(json));
  }

  /** GET /debug/vars: the auto-backup uploader's counters. */
  async uploadCounts(opts: CallOptions = {}): Promise<UploadCounts> {
    const call = this.call("GET", "/debug/vars", "status", opts);
    const json = parseJson(this.ep, call, await this.expectOk(call));
    return this.shape(call, () => readUploadCounts(json));
  }

  /** GET /debug/vars: the auto-restore counters. */
  async restoreCounts(opts: CallOptions = {}): Promise<RestoreCounts> {
    const call = this.call("GET", "/debug/vars", "status", opts);
    const json = parseJson(this.ep, call, await this.expectOk(call));
    return this.shape(call, () => readRestoreCounts(json));
  }

  /** GET /nodes?ver=2, non-voters included: every member and whether this node could reach it. */
  async nodes(opts: CallOptions = {}): Promise<RqliteNode[]> {
    const call = this.call("GET", "/nodes", "status", opts, { ver: "2", nonvoters: true });
    this.serverWait(call);
    const json = parseJson(this.ep, call, await this.expectOk(call));
    return this.shape(call, () => readNodes(json));
  }

  /** GET /readyz. Not ready (503) is an answer, not an error; the body says which check failed. */
  async readyz(opts: ReadyzOptions = {}): Promise<Readiness> {
    const call = this.call("GET", "/readyz", "ready", opts, {
      ...(opts.noleader ? { noleader: true } : {}),
      ...(opts.sync ? { sync: true } : {}),
    });
    this.serverWait(call);
    const reply = await send(this.ep, call);
    if (reply.status !== 200 && reply.status !== 503) throw statusFailure(this.ep, call, reply);
    return { ready: reply.status === 200, body: reply.body.toString("utf8").trim() };
  }

  /** GET /leader: the leader as this node knows it, or undefined while there is none. */
  async leader(opts: CallOptions = {}): Promise<RqliteNode | undefined> {
    const call = this.call("GET", "/leader", "leader-ops", opts);
    this.serverWait(call);
    const reply = await send(this.ep, call);
    if (reply.status === 503) return undefined;
    if (reply.status !== 200) throw statusFailure(this.ep, call, reply);
    const json = parseJson(this.ep, call, reply);
    return this.shape(call, () => readNode(json));
  }

  /**
   * POST /leader?wait: the leader steps down, handing leadership to `toId` (or to any voter when
   * absent), and the call returns once the transfer finished. Any member but the target itself
   * may receive it. Naming the current leader is not an error: there is nothing to move.
   */
  async transferLeadership(toId?: string, opts: CallOptions = {}): Promise<TransferOutcome> {
    const call = this.call("POST", "/leader", "leader-ops", opts, { wait: true }, toId ? { id: toId } : undefined);
    this.serverWait(call);
    const reply = await send(this.ep, call);
    if (reply.status === 200) return "transferred";
    const text = reply.body.toString("utf8");
    // rqlite (v8 store.Stepdown) refuses a transfer to the node that already leads, by this text.
    if (toId && /cannot step down to the current leader/i.test(text)) return "already-leader";
    // A follower handed a transfer to itself asks its own Raft instead of forwarding to the leader.
    if (toId && /cannot transfer leadership to itself/i.test(text)) {
      throw failure(
        this.ep,
        callName(call),
        "http",
        `HTTP ${reply.status}: ${excerpt(text)} (rqlite does not forward a transfer ` +
          `sent to its own target; send it to the leader or another member)`,
        { status: reply.status, body: excerpt(text) },
      );
    }
    throw statusFailure(this.ep, call, reply);
  }

  /**
   * Removes `id` from the Raft configuration (DELETE /remove, forwarded to the leader). rqlite
   * answers success even for an id that is not a member, so membership is checked first, as this
   * node sees it: call it on the leader for an authoritative answer. Removing a non-member sends
   * nothing and reports "not-member", so a retried removal is harmless. The time limit covers
   * both requests.
   */
  async removeNode(id: string, opts: CallOptions = {}): Promise<RemoveOutcome> {
    const deadline = Date.now() + (opts.timeoutMs ?? this.timeoutMs);
    if (!id) throw failure(this.ep, "DELETE /remove", "invalid-argument", "the node id to remove is empty");
    const { members } = await this.status(opts);
    if (!members.some((m) => m.id === id)) return "not-member";
    const call = this.call(
      "DELETE",
      "/remove",
      "remove",
      { timeoutMs: Math.max(1, deadline - Date.now()) },
      {},
      { id },
    );
    this.serverWait(call);
    await this.expectOk(call);
    return "removed";
  }

  /**
   * GET /db/backup: a consistent copy of the database as an SQLite file, held in memory whole, so
   * without the answer cap (the caller asked for the database). The operator streams instead.
   */
  async backup(opts: CallOptions = {}): Promise<Buffer> {
    const call = { ...this.call("GET", "/db/backup", "backup", opts), maxBytes: Infinity };
    const reply = await this.expectOk(call);
    if (!reply.body.subarray(0, sqliteMagic.length).equals(sqliteMagic)) {
      throw failure(
        this.ep,
        callName(call),
        "bad-response",
        `the answer (${reply.body.length} bytes) is not an SQLite file: it does not start with "SQLite format 3"`,
      );
    }
    return reply.body;
  }

  /**
   * GET /db/backup as a stream, for databases too large to hold in memory. The body fails
   * rather than ending early when the connection breaks, so an incomplete copy never looks whole.
   * It asks this node itself (not forwarded): call it on the leader, as a forwarded backup is
   * buffered whole in the follower first.
   */
  async backupStream(opts: BackupStreamOptions = {}): Promise<BackupStream> {
    if (opts.vacuum && opts.format === "sql") {
      throw failure(this.ep, "GET /db/backup", "invalid-argument", "rqlite vacuums only binary backups, not sql");
    }
    const call = this.call(
      "GET",
      "/db/backup",
      "backup",
      { timeoutMs: opts.timeoutMs ?? 60_000 },
      {
        ...(opts.format === "sql" ? { fmt: "sql" } : {}),
        ...(opts.compress ? { compress: true } : {}),
        ...(opts.vacuum ? { vacuum: true } : {}),
      },
    );
    const reply = await openStream(this.ep, call, opts.idleTimeoutMs ?? 30_000);
    const servedBy = reply.headers["x-rqlite-served-by"];
    return {
      body: reply.body,
      contentType: reply.headers["content-type"],
      servedBy: Array.isArray(servedBy) ? servedBy[0] : servedBy,
    };
  }

  /**
   * POST /db/load of a binary SQLite file, streamed: rqlite replaces the whole database with it
   * through Raft. Call it on the leader. rqlite answers 200 with a top-level error when it refuses
   * the file, which rejects here as kind "sql".
   */
  async load(body: Readable, opts: CallOptions = {}): Promise<void> {
    const call: HttpCall = { ...this.call("POST", "/db/load", "load", opts), upload: body };
    const json = parseJson(this.ep, call, await this.expectOk(call));
    this.shape(call, () => readLoadAnswer(json));
  }

  /** POST /db/execute. Rejects with kind "sql" naming the first statement that failed. */
  async execute(statements: Statement[], opts: CallOptions & { transaction?: boolean } = {}): Promise<ExecuteResult[]> {
    const call = this.call(
      "POST",
      "/db/execute",
      "execute",
      opts,
      opts.transaction ? { transaction: true } : {},
      statements,
    );
    if (statements.length === 0) throw failure(this.ep, callName(call), "invalid-argument", "no statements to execute");
    const json = parseJson(this.ep, call, await this.expectOk(call));
    return this.shape(call, () => readExecuteResults(json), statements);
  }

  /** POST /db/query of one statement; rows come back as objects keyed by column. */
  async query(statement: Statement, opts: QueryOptions = {}): Promise<Row[]> {
    const call = this.call("POST", "/db/query", "query", opts, { associative: true, level: opts.level ?? "weak" }, [
      statement,
    ]);
    const json = parseJson(this.ep, call, await this.expectOk(call));
    return this.shape(call, () => readRows(json), [statement]);
  }

  private call(
    method: HttpCall["method"],
    path: string,
    perm: string,
    opts: CallOptions,
    query: HttpCall["query"] = {},
    json?: unknown,
  ): HttpCall {
    return {
      method,
      path,
      perm,
      query,
      timeoutMs: opts.timeoutMs ?? this.timeoutMs,
      maxBytes: this.maxAnswerBytes,
      ...(json === undefined ? {} : { json }),
    };
  }

  /**
   * Gives rqlite a limit for its own waiting (probing members, forwarding to the leader, syncing)
   * shorter than the call's, so rqlite's reason reaches us instead of a bare client timeout.
   */
  private serverWait(call: HttpCall): void {
    const ms = Math.max(100, Math.floor(call.timeoutMs * 0.8));
    call.query = { ...call.query, timeout: `${ms}ms` };
  }

  private async expectOk(call: HttpCall): Promise<HttpReply> {
    const reply = await send(this.ep, call);
    if (reply.status !== 200) throw statusFailure(this.ep, call, reply);
    return reply;
  }

  /** Runs a reader, turning shape and SQL failures into RqliteErrors for this node and call. */
  private shape<T>(call: HttpCall, read: () => T, statements?: Statement[]): T {
    try {
      return read();
    } catch (err) {
      if (err instanceof SqlFailure) {
        const which =
          err.index < 0 ? "the request" : `statement ${err.index + 1} (${sqlText(statements?.[err.index])})`;
        throw failure(this.ep, callName(call), "sql", `${which} failed: ${err.message}`, { cause: err });
      }
      const detail = err instanceof ShapeError ? err.message : String(err);
      throw failure(this.ep, callName(call), "bad-response", `unexpected JSON: ${detail}`, { cause: err });
    }
  }
}

function sqlText(s: Statement | undefined): string {
  const sql = typeof s === "string" ? s : (s?.[0] ?? "");
  return sql.length > 80 ? `${sql.slice(0, 80)}...` : sql;
}
