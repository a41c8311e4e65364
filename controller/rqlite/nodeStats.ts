// What the operator exports about one rqlite node, read from its /status and /debug/vars. rqlite
// has no Prometheus endpoint, so these answers are the only source; the fields come from
// store/store.go (Stats), db/db.go and auto/backup/uploader.go, and test/fixtures/rqlite holds
// real answers they are tested on.
import { readStatus, ShapeError, type RaftState } from "./shapes.js";

export interface NodeStats {
  nodeId: string;
  raftState: RaftState;
  appliedIndex: number;
  commitIndex: number;
  /** Since the follower last heard from the leader; 0 on the leader, absent when never. */
  lastContactSeconds?: number;
  /** The SQLite file's size (store.sqlite3.db_size). */
  dbSizeBytes?: number;
  /** rqlited's version, e.g. "v8.43.4". */
  version: string;
  /**
   * The Raft index of the last entry that changed the database (store.db_applied_index): 0 until
   * one did. Rebuilt from the Raft log and snapshots at every start, so it outlives the process,
   * unlike the counters of /debug/vars. Absent where rqlite does not report it.
   */
  dbAppliedIndex?: number;
}

/** The auto-backup uploader's counters since the node started. */
export interface UploadCounts {
  ok: number;
  fail: number;
}

const GO_DURATION_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Seconds in a Go duration string such as "19.030846ms" or "1m2.5s"; undefined otherwise. */
export function goDurationSeconds(text: string): number | undefined {
  if (text === "0") return 0;
  const parts = [...text.matchAll(/([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) return undefined;
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * GO_DURATION_UNITS[unit!]!, 0);
}

/**
 * hashicorp/raft reports last_contact as a Go duration, "never" before any contact, and 0 on the
 * leader; rqlite turns the strings that parse as integers into numbers (store.Stats).
 */
function lastContact(value: unknown): number | undefined {
  if (value === undefined || value === "never") return undefined;
  if (typeof value === "number") return value;
  const seconds = typeof value === "string" ? goDurationSeconds(value) : undefined;
  if (seconds === undefined)
    throw new ShapeError(`store.raft.last_contact is not a duration (${JSON.stringify(value)})`);
  return seconds;
}

export function readNodeStats(statusJson: unknown): NodeStats {
  const status = readStatus(statusJson);
  const store = (statusJson as { store: Record<string, unknown> }).store;
  const raft = store.raft as Record<string, unknown>;
  const dbSize = (store.sqlite3 as Record<string, unknown> | undefined)?.db_size;
  const dbApplied = store.db_applied_index;
  const contact = lastContact(raft.last_contact);
  return {
    nodeId: status.nodeId,
    raftState: status.raftState,
    appliedIndex: status.appliedIndex,
    commitIndex: status.commitIndex,
    ...(contact === undefined ? {} : { lastContactSeconds: contact }),
    ...(typeof dbSize === "number" ? { dbSizeBytes: dbSize } : {}),
    version: status.version,
    ...(typeof dbApplied === "number" ? { dbAppliedIndex: dbApplied } : {}),
  };
}

/**
 * The auto-restore counters of store/store.go since the node started: the first leader loads the
 * downloaded file (restored, or failed), every other node that downloaded it skips it.
 */
export interface RestoreCounts {
  restored: number;
  failed: number;
  skipped: number;
}

/** store.num_auto_restores, _failed and _skipped of /debug/vars. */
export function readRestoreCounts(varsJson: unknown): RestoreCounts {
  const store = (varsJson as { store?: Record<string, unknown> } | null)?.store;
  const count = (key: string) => {
    const n = store?.[key];
    if (typeof n !== "number") throw new ShapeError(`store.${key} is ${n === undefined ? "missing" : "not a number"}`);
    return n;
  };
  return {
    restored: count("num_auto_restores"),
    failed: count("num_auto_restores_failed"),
    skipped: count("num_auto_restores_skipped"),
  };
}

/** uploader.num_uploads_ok / num_uploads_fail of /debug/vars. */
export function readUploadCounts(varsJson: unknown): UploadCounts {
  const uploader = (varsJson as { uploader?: Record<string, unknown> } | null)?.uploader;
  const count = (key: string) => {
    const n = uploader?.[key];
    if (typeof n !== "number")
      throw new ShapeError(`uploader.${key} is ${n === undefined ? "missing" : "not a number"}`);
    return n;
  };
  return { ok: count("num_uploads_ok"), fail: count("num_uploads_fail") };
}
