// The typed views of rqlite's JSON answers, and the readers that check each field they use, so a
// changed or truncated answer fails with the JSON path that was wrong instead of undefined later.

/** hashicorp/raft's states, as rqlite's /status reports them in store.raft.state. */
export type RaftState = "Leader" | "Follower" | "Candidate" | "Shutdown";
const raftStates: readonly string[] = ["Leader", "Follower", "Candidate", "Shutdown"];

/** One server in this node's Raft configuration. */
export interface RaftMember {
  id: string;
  /** Raft address (host:port). */
  addr: string;
  voter: boolean;
}

/** What an operator needs from GET /status. */
export interface RqliteStatus {
  nodeId: string;
  /** This node's Raft address. */
  addr: string;
  raftState: RaftState;
  voter: boolean;
  /** rqlite's own readiness: store open and a leader known. */
  ready: boolean;
  /** The leader this node knows of; absent during an election. */
  leader?: { id: string; addr: string };
  term: number;
  appliedIndex: number;
  commitIndex: number;
  lastLogIndex: number;
  /** The Raft index last applied to the SQLite database. */
  dbAppliedIndex: number;
  /** The Raft configuration as this node sees it. */
  members: RaftMember[];
  /** rqlited's version, e.g. "v8.43.4" ("unknown" for a build without one). */
  version: string;
}

/** One entry of GET /nodes?ver=2 (or GET /leader): a member, as this node could reach it. */
export interface RqliteNode {
  id: string;
  /** Raft address (host:port). */
  addr: string;
  /** HTTP API URL the node advertises; absent when it was not reachable. */
  apiAddr?: string;
  voter: boolean;
  reachable: boolean;
  leader: boolean;
  version?: string;
  /** Why the node could not be reached. */
  error?: string;
}

export interface ExecuteResult {
  rowsAffected: number;
  lastInsertId?: number;
}

export type SqlValue = string | number | boolean | null;
/** One SQL statement, bare or with positional parameters: ["INSERT INTO t VALUES(?)", 1]. */
export type Statement = string | [string, ...SqlValue[]];
export type Row = Record<string, unknown>;

/** A field that is missing or of the wrong type; the client turns it into a bad-response error. */
export class ShapeError extends Error {}

type Obj = Record<string, unknown>;

function at(root: unknown, path: string): unknown {
  let v: unknown = root;
  for (const key of path.split(".")) v = isObject(v) ? v[key] : undefined;
  return v;
}

const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function typed<T>(root: unknown, path: string, want: string, ok: (v: unknown) => v is T): T {
  const v = at(root, path);
  if (!ok(v))
    throw new ShapeError(
      `${path} is ${v === undefined ? "missing" : `not ${want} (${JSON.stringify(v)?.slice(0, 60)})`}`,
    );
  return v;
}

const str = (root: unknown, path: string) => typed(root, path, "a string", (v): v is string => typeof v === "string");
const num = (root: unknown, path: string) => typed(root, path, "a number", (v): v is number => typeof v === "number");
const bool = (root: unknown, path: string) =>
  typed(root, path, "a boolean", (v): v is boolean => typeof v === "boolean");
const arr = (root: unknown, path: string) => typed(root, path, "an array", (v): v is unknown[] => Array.isArray(v));
const optStr = (root: unknown, path: string) => (at(root, path) === undefined ? undefined : str(root, path));

/** Runs a reader on a nested value, so its errors name the full path ("nodes.2.id is missing"). */
function within<T>(prefix: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof ShapeError) throw new ShapeError(`${prefix}.${err.message}`);
    throw err;
  }
}

/** True when /status says the store is not open yet (it then carries no Raft section). */
export const storeClosed = (json: unknown) => at(json, "store.open") === false;

export function readStatus(json: unknown): RqliteStatus {
  const state = str(json, "store.raft.state");
  if (!raftStates.includes(state))
    throw new ShapeError(`store.raft.state "${state}" is not one of ${raftStates.join(", ")}`);
  const leaderId = str(json, "store.leader.node_id");
  const leaderAddr = str(json, "store.leader.addr");
  return {
    nodeId: str(json, "store.node_id"),
    addr: str(json, "store.addr"),
    raftState: state as RaftState,
    voter: bool(json, "store.raft.voter"),
    ready: bool(json, "store.ready"),
    // rqlite reports "no leader" as empty strings.
    ...(leaderId && leaderAddr ? { leader: { id: leaderId, addr: leaderAddr } } : {}),
    term: num(json, "store.raft.term"),
    appliedIndex: num(json, "store.raft.applied_index"),
    commitIndex: num(json, "store.raft.commit_index"),
    lastLogIndex: num(json, "store.raft.last_log_index"),
    dbAppliedIndex: num(json, "store.db_applied_index"),
    members: arr(json, "store.nodes").map((m, i) =>
      within(`store.nodes.${i}`, () => ({
        id: str(m, "id"),
        addr: str(m, "addr"),
        voter: str(m, "suffrage") === "Voter",
      })),
    ),
    version: optStr(json, "build.version") ?? "unknown",
  };
}

/** One node of /nodes?ver=2, or the answer of GET /leader. */
export function readNode(json: unknown): RqliteNode {
  const apiAddr = optStr(json, "api_addr");
  const version = optStr(json, "version");
  const error = optStr(json, "error");
  return {
    id: str(json, "id"),
    addr: str(json, "addr"),
    ...(apiAddr ? { apiAddr } : {}),
    voter: bool(json, "voter"),
    reachable: bool(json, "reachable"),
    leader: bool(json, "leader"),
    ...(version ? { version } : {}),
    ...(error ? { error } : {}),
  };
}

export const readNodes = (json: unknown): RqliteNode[] =>
  arr(json, "nodes").map((n, i) => within(`nodes.${i}`, () => readNode(n)));

/** A statement rqlite rejected; `index` is its position in the request, -1 for the whole request. */
export class SqlFailure extends Error {
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(message);
  }
}

/** The per-statement results of /db/execute or /db/query; the first failed statement throws. */
function readResults(json: unknown): Obj[] {
  const top = at(json, "error");
  if (typeof top === "string" && top) throw new SqlFailure(top, -1);
  return arr(json, "results").map((r, i) => {
    if (!isObject(r)) throw new ShapeError(`results.${i} is not an object`);
    if (typeof r.error === "string") throw new SqlFailure(r.error, i);
    return r;
  });
}

/** The answer of POST /db/load: an SQLite file's load answers no results, only a top-level error when refused. */
export function readLoadAnswer(json: unknown): void {
  const top = at(json, "error");
  if (typeof top === "string" && top) throw new SqlFailure(top, -1);
  if (Array.isArray(at(json, "results"))) readResults(json);
}

export function readExecuteResults(json: unknown): ExecuteResult[] {
  return readResults(json).map((r, i) =>
    within(`results.${i}`, () => {
      // A statement that changes no rows (CREATE TABLE) answers {}.
      const rowsAffected = at(r, "rows_affected") === undefined ? 0 : num(r, "rows_affected");
      const lastInsertId = at(r, "last_insert_id") === undefined ? undefined : num(r, "last_insert_id");
      return { rowsAffected, ...(lastInsertId === undefined ? {} : { lastInsertId }) };
    }),
  );
}

/** Rows of the first result of an `?associative` query. */
export function readRows(json: unknown): Row[] {
  const first = readResults(json)[0];
  if (!first) throw new ShapeError("results is empty");
  // A query that matches nothing has no rows key at all.
  if (at(first, "rows") === undefined) return [];
  return arr(first, "rows").map((r, i) => {
    if (!isObject(r)) throw new ShapeError(`results.0.rows.${i} is not an object`);
    return r;
  });
}
