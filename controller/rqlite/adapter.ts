// What the reconciler asks rqlite: the Raft configuration as the LEADER reports it (a follower's
// view of who is reachable can differ), whether nodes have caught up, and the two changes it
// makes: removing a node and moving leadership. How each node is reached (scheme, CA,
// credentials) is decided per node by the caller, from what that node runs now.
import { parseRqliteVersion, supports } from "../../shared/rqlite-versions.js";
import {
  RqliteClient,
  RqliteError,
  type NodeStats,
  type RqliteNode,
  type RestoreCounts,
  type UploadCounts,
} from "./client.js";

export interface NodeAccess {
  /** host:port of the node's HTTP API. */
  address: string;
  https: boolean;
  /** PEM CA bundle for https. */
  ca?: string;
  credentials?: { username: string; password: string };
}

export interface LeaderView {
  leader: string;
  members: Array<{ id: string; voter: boolean; reachable: boolean; address: string }>;
  /** The leader's rqlited version, e.g. "v8.43.4", when it reports one. */
  leaderVersion?: string;
}

const CALL_TIMEOUT_MS = 3000;

export interface ClusterRqlite {
  /** Asks the given nodes in order until one names a leader, then asks the leader itself. */
  /**
   * `unauthorized`: the leader, or every node asked, refused the operator's credentials (401/403),
   * so no view can be had until the nodes run the operator's current users file.
   */
  leaderView(nodeIds: string[]): Promise<{ view?: LeaderView; problem?: string; unauthorized?: boolean }>;
  /** The nodes among `nodeIds` that pass `/readyz?sync`. */
  synced(nodeIds: string[]): Promise<Set<string>>;
  removeNode(leaderId: string, nodeId: string): Promise<void>;
  transferLeadership(leaderId: string, toId: string): Promise<void>;
  /** One node's /status (and /debug/vars with `uploads`), for the node metrics. */
  nodeStats(nodeId: string, uploads: boolean): Promise<{ stats: NodeStats; uploads?: UploadCounts }>;
  /** One node's auto-restore counters (/debug/vars), for the Restored condition. */
  restoreCounts(nodeId: string): Promise<RestoreCounts>;
  /** One node's Raft indexes (/status), answered with or without a leader: a recovery's evidence. */
  raftIndexes(
    nodeId: string,
  ): Promise<{ lastLogIndex: number; appliedIndex: number; commitIndex: number; term: number }>;
}

export function clusterRqlite(accessOf: (nodeId: string) => NodeAccess): ClusterRqlite {
  const client = (nodeId: string) => {
    const a = accessOf(nodeId);
    return new RqliteClient(`${a.https ? "https" : "http"}://${a.address}`, {
      nodeId,
      timeoutMs: CALL_TIMEOUT_MS,
      ...(a.credentials ? { auth: a.credentials } : {}),
      ...(a.ca ? { tls: { ca: a.ca } } : {}),
    });
  };
  const toView = (nodes: RqliteNode[], leader: RqliteNode): LeaderView => ({
    leader: leader.id,
    members: nodes.map((n) => ({ id: n.id, voter: n.voter, reachable: n.reachable, address: n.apiAddr ?? n.addr })),
    ...(leader.version ? { leaderVersion: leader.version } : {}),
  });
  return {
    async leaderView(nodeIds) {
      const problems: string[] = [];
      let refused = 0;
      for (const id of nodeIds) {
        let nodes: RqliteNode[];
        try {
          nodes = await client(id).nodes();
        } catch (err) {
          if (err instanceof RqliteError && err.kind === "unauthorized") refused++;
          problems.push(describe(err));
          continue;
        }
        const leader = nodes.find((n) => n.leader);
        if (!leader) {
          problems.push(`${id} knows no leader`);
          continue;
        }
        if (leader.id === id) return { view: toView(nodes, leader) };
        try {
          const fromLeader = await client(leader.id).nodes();
          const self = fromLeader.find((n) => n.leader && n.id === leader.id);
          if (self) return { view: toView(fromLeader, self) };
          return { problem: `${id} names ${leader.id} as leader, but ${leader.id} no longer leads` };
        } catch (err) {
          // The follower's word is no membership to decide anything on: no roll or removal without the leader's.
          return {
            problem: `${id} names ${leader.id} as leader, which does not answer: ${describe(err)}`,
            ...(err instanceof RqliteError && err.kind === "unauthorized" ? { unauthorized: true } : {}),
          };
        }
      }
      return {
        problem: problems.length > 0 ? problems.join("; ") : "no rqlite node runs yet",
        ...(nodeIds.length > 0 && refused === nodeIds.length ? { unauthorized: true } : {}),
      };
    },
    async synced(nodeIds) {
      const answers = await Promise.all(
        nodeIds.map((id) =>
          client(id)
            .readyz({ sync: true })
            .then(
              (r) => r.ready,
              () => false,
            ),
        ),
      );
      return new Set(nodeIds.filter((_, i) => answers[i]));
    },
    async removeNode(leaderId, nodeId) {
      await client(leaderId).removeNode(nodeId);
    },
    async nodeStats(nodeId, uploads) {
      const c = client(nodeId);
      const [stats, counts] = await Promise.all([c.nodeStats(), uploads ? c.uploadCounts() : undefined]);
      return { stats, ...(counts ? { uploads: counts } : {}) };
    },
    restoreCounts: (nodeId) => client(nodeId).restoreCounts(),
    async raftIndexes(nodeId) {
      const s = await client(nodeId).status();
      return { lastLogIndex: s.lastLogIndex, appliedIndex: s.appliedIndex, commitIndex: s.commitIndex, term: s.term };
    },
    async transferLeadership(leaderId, toId) {
      await client(leaderId).transferLeadership(toId);
      // "already-leader" is fine too: the next observation sees who leads.
    },
  };
}

/** RqliteError names node, call and cause (never a body with credentials in it). */
function describe(err: unknown): string {
  return err instanceof RqliteError || err instanceof Error ? err.message : String(err);
}

/** Whether a leader on `version` ("v8.43.4") can hand leadership to a named node (POST /leader with an id). */
export function canTransferLeadership(version: string | undefined): boolean {
  return supports(parseRqliteVersion(version), "leadershipTransfer");
}
