// The rqlite_node_* series: each node's Raft state, indexes, lag behind the leader, database size,
// contact with the leader, version and backup uploads, as the scraper last read them. Labels are
// namespace, cluster and node (a cluster has at most 9 voters and 32 read replicas), plus the
// four Raft states and the running version: bounded. A node that went, and every node of a
// deleted cluster, loses its series.
import type { Registry } from "prom-client";
import type { NodeStats, UploadCounts } from "../rqlite/client.js";
import type { RaftState } from "../rqlite/shapes.js";
import { counter, gauge } from "../runtime/metrics.js";

const RAFT_STATES: readonly RaftState[] = ["Leader", "Follower", "Candidate", "Shutdown"];

/** What one scrape of one node found. */
export interface NodeScrape {
  node: string;
  stats?: NodeStats;
  uploads?: UploadCounts;
}

type Labels = { namespace: string; cluster: string; node: string };
/** What the last scrape of a node left behind: its labels, version and upload counts. */
type NodeEntry = { labels: Labels; version?: string; uploads?: UploadCounts };

export class NodeMetrics {
  private readonly up;
  private readonly state;
  private readonly applied;
  private readonly commit;
  private readonly lag;
  private readonly dbSize;
  private readonly lastContact;
  private readonly versionInfo;
  private readonly uploads;
  /** Per cluster key: its nodes' labels, versions and last upload counts, to remove or diff later. */
  private readonly known = new Map<string, Map<string, { labels: Labels; version?: string; uploads?: UploadCounts }>>();

  constructor(registry: Registry) {
    const node = ["namespace", "cluster", "node"] as const;
    this.up = gauge(
      registry,
      "rqlite_node_up",
      "1 when the operator's last scrape of the node's /status succeeded, else 0",
      [...node],
    );
    this.state = gauge(registry, "rqlite_node_raft_state", "1 for the node's current Raft state, 0 for the others", [
      ...node,
      "state",
    ]);
    this.applied = gauge(registry, "rqlite_node_applied_index", "Raft index the node has applied", [...node]);
    this.commit = gauge(registry, "rqlite_node_commit_index", "Raft index the node knows to be committed", [...node]);
    this.lag = gauge(
      registry,
      "rqlite_node_raft_lag_entries",
      "Raft entries the node's applied index is behind the leader's commit index (read in the same scrape)",
      [...node],
    );
    this.dbSize = gauge(registry, "rqlite_node_db_size_bytes", "Size of the node's SQLite database file", [...node]);
    this.lastContact = gauge(
      registry,
      "rqlite_node_last_contact_seconds",
      "Time since the node last heard from the leader (0 on the leader)",
      [...node],
    );
    this.versionInfo = gauge(
      registry,
      "rqlite_node_version_info",
      "1, labelled with the rqlited version the node runs",
      [...node, "version"],
    );
    this.uploads = counter(
      registry,
      "rqlite_node_backup_uploads_total",
      "Automatic backups the node uploaded (result=ok) or failed to upload (result=fail), for nodes run with -auto-backup",
      [...node, "result"],
    );
  }

  /** Sets the series of one cluster's nodes from one scrape; nodes not in it lose theirs. */
  record(namespace: string, cluster: string, scrapes: readonly NodeScrape[]): void {
    const key = `${namespace}/${cluster}`;
    const before = this.known.get(key) ?? new Map<string, NodeEntry>();
    const after = new Map<string, NodeEntry>();
    const leader = scrapes.find((s) => s.stats?.raftState === "Leader")?.stats;
    for (const s of scrapes) {
      const labels = { namespace, cluster, node: s.node };
      const previous = before.get(s.node);
      const entry: NodeEntry = { labels };
      after.set(s.node, entry);
      this.up.set(labels, s.stats ? 1 : 0);
      if (!s.stats) {
        // Nothing read now is better than a stale value that looks current. The upload counts
        // stay known, so the next successful scrape counts only what is new.
        this.removeReadings(labels, previous);
        if (previous?.uploads) entry.uploads = previous.uploads;
        continue;
      }
      const st = s.stats;
      for (const state of RAFT_STATES) this.state.set({ ...labels, state }, st.raftState === state ? 1 : 0);
      this.applied.set(labels, st.appliedIndex);
      this.commit.set(labels, st.commitIndex);
      if (leader) this.lag.set(labels, Math.max(0, leader.commitIndex - st.appliedIndex));
      else this.lag.remove(labels);
      setOrRemove(this.dbSize, labels, st.dbSizeBytes);
      setOrRemove(this.lastContact, labels, st.lastContactSeconds);
      if (previous?.version !== undefined && previous.version !== st.version)
        this.versionInfo.remove({ ...labels, version: previous.version });
      this.versionInfo.set({ ...labels, version: st.version }, 1);
      entry.version = st.version;
      if (s.uploads) {
        this.countUploads(labels, previous?.uploads, s.uploads);
        entry.uploads = s.uploads;
      }
    }
    for (const [node, gone] of before) {
      if (after.has(node)) continue;
      this.up.remove(gone.labels);
      this.removeReadings(gone.labels, gone);
      this.uploads.remove({ ...gone.labels, result: "ok" });
      this.uploads.remove({ ...gone.labels, result: "fail" });
    }
    this.known.set(key, after);
  }

  /** Removes every series of a cluster that is gone. */
  forget(namespace: string, cluster: string): void {
    this.record(namespace, cluster, []);
    this.known.delete(`${namespace}/${cluster}`);
  }

  /**
   * rqlite's counters restart at 0 with the process; the exported counter only grows, by what
   * was uploaded since the last scrape (all of it after a restart), as Prometheus expects.
   */
  private countUploads(labels: Labels, before: UploadCounts | undefined, now: UploadCounts): void {
    for (const result of ["ok", "fail"] as const) {
      const previous = before?.[result] ?? 0;
      const added = now[result] >= previous ? now[result] - previous : now[result];
      this.uploads.inc({ ...labels, result }, added);
    }
  }

  private removeReadings(labels: Labels, previous: { version?: string } | undefined): void {
    for (const state of RAFT_STATES) this.state.remove({ ...labels, state });
    for (const g of [this.applied, this.commit, this.lag, this.dbSize, this.lastContact]) g.remove(labels);
    if (previous?.version !== undefined) this.versionInfo.remove({ ...labels, version: previous.version });
  }
}

function setOrRemove(g: { set(l: Labels, v: number): void; remove(l: Labels): void }, labels: Labels, v?: number) {
  if (v === undefined) g.remove(labels);
  else g.set(labels, v);
}
