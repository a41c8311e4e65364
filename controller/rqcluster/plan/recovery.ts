// Quorum-loss recovery (spec.recovery), as pure decisions over what one reconcile observed and
// the step status.recovery recorded. A majority of voters lost for good leaves no leader and
// no way to elect one; rqlite's documented way out is a peers.json in a survivor's Raft folder.
// The steps, one per reconcile, each with an Event:
//   judge     -> Refused (a leader answers, enough voters may come back, no survivor, wrong uid)
//                or Stopping, naming the survivor: the voter with the longest Raft log
//   Stopping  -> every Pod deleted (peers.json must be in place before rqlited starts)
//   WritingPeers -> a one-shot Pod writes peers.json (the survivor alone) into its volume
//   Restarting   -> the usual plan recreates the Pods: the survivor recovers as a one-voter
//                   cluster and elects itself, the other voters (empty volumes) join it afresh
//   Completed once a leader answers.
// A new spec.recovery.requestedAt asks for a new recovery; Refused, Completed and Failed are final
// for the one they answer.
import type { V1Pod } from "@kubernetes/client-node";
import type { RecoverySpec, RecoveryStatus } from "../../../shared/index.js";
import { LABEL_ROLE } from "../../../shared/names.js";
import { renderRecoveryPod, recoveryPodName } from "../render/recovery.js";
import { isTerminating, podName, quorum } from "./facts.js";
import type { Action, Observed } from "./types.js";
import { POD } from "../ports.js";

/** A voter's Raft indexes, from its rqlited's /status. */
export interface RaftIndexes {
  lastLogIndex: number;
  appliedIndex: number;
  commitIndex: number;
  term: number;
}

/** What could be learnt of one voter of the last recorded configuration. */
export interface VoterEvidence {
  id: string;
  /** A bound PVC of its name exists and is not being deleted: its data may still be there. */
  volume: boolean;
  /** Its rqlited answered /status. lastLogIndex 0: it runs on an empty volume. */
  indexes?: RaftIndexes;
}

export interface RecoveryObservation {
  voters: VoterEvidence[];
  /** The one-shot Pod that writes peers.json, while it exists. */
  writer?: V1Pod;
  /** status.recovery as last written. */
  previous?: RecoveryStatus;
}

export interface RecoveryPlan {
  /** status.recovery to write. */
  status: RecoveryStatus;
  actions: Action[];
  /** The recovery owns the Pods now: the usual plan must create, delete and roll none. */
  ownsPods: boolean;
  /** A Warning Event for the step (refusals, failures); else Normal. */
  event?: { reason: string; message: string; warning: boolean };
}

const FINAL = new Set(["Refused", "Completed", "Failed"]);

/** A recovery is asked for and not over: only then is its evidence read. */
export function recoveryPending(ask: RecoverySpec | undefined, previous: RecoveryStatus | undefined): boolean {
  if (!ask) return false;
  return !(previous?.requestedAt === ask.requestedAt && previous.phase && FINAL.has(previous.phase));
}

/** Undefined when no recovery is asked for, or the one asked for is over. */
export function planRecovery(o: Observed, r: RecoveryObservation, now: string): RecoveryPlan | undefined {
  const ask = o.cluster.spec.recovery;
  if (!ask || !recoveryPending(ask, r.previous)) return undefined;
  const prev = r.previous?.requestedAt === ask.requestedAt ? r.previous : undefined;
  const base: RecoveryStatus = {
    requestedAt: ask.requestedAt,
    ...(prev?.startedAt ? { startedAt: prev.startedAt } : {}),
  };
  switch (prev?.phase) {
    case "Stopping":
      return stopping(o, r, { ...prev, ...base });
    case "WritingPeers":
      return writingPeers(o, r, { ...prev, ...base }, now);
    case "Restarting":
      return restarting(o, { ...prev, ...base }, now);
    default:
      return judge(o, r, base, now);
  }
}

/** Longest log first (recovery keeps and commits all of it), then applied index, term, name. */
function bySurvivorOrder(a: VoterEvidence, b: VoterEvidence): number {
  const x = a.indexes!;
  const y = b.indexes!;
  return (
    y.lastLogIndex - x.lastLogIndex ||
    y.appliedIndex - x.appliedIndex ||
    y.term - x.term ||
    a.id.localeCompare(b.id, "en", { numeric: true })
  );
}

function judge(o: Observed, r: RecoveryObservation, base: RecoveryStatus, now: string): RecoveryPlan {
  const c = o.cluster;
  const refuse = (reason: string, message: string): RecoveryPlan => ({
    status: { ...base, phase: "Refused", message, completedAt: now },
    actions: [],
    ownsPods: false,
    event: { reason, message, warning: true },
  });
  if (c.spec.recovery!.confirm !== c.uid)
    return refuse(
      "RecoveryNotConfirmed",
      `spec.recovery.confirm is not this RqCluster's uid (${c.uid}); nothing was changed: set it to the uid to accept the data loss, or remove spec.recovery`,
    );
  if (o.raft)
    return refuse(
      "QuorumExists",
      `rqlite leader ${o.raft.leader} answers: the cluster has quorum and needs no recovery; nothing was changed`,
    );
  const voters = r.voters;
  const withData = voters.filter((v) => (v.indexes?.lastLogIndex ?? 0) > 0).sort(bySurvivorOrder);
  const unknown = voters.filter((v) => !v.indexes && v.volume);
  const lost = voters.filter((v) => !withData.includes(v) && !unknown.includes(v)).map((v) => v.id);
  const need = quorum(voters.length);
  if (withData.length >= need)
    return refuse(
      "QuorumExists",
      `${withData.length} of ${voters.length} voters (${withData.map((v) => v.id).join(", ")}) run with their data: they elect a leader on their own (quorum ${need}); nothing was changed`,
    );
  if (withData.length + unknown.length >= need) {
    const message = `waiting: voters ${unknown.map((v) => v.id).join(", ")} still have volumes but their rqlited did not answer; with them quorum (${need} of ${voters.length}) may come back. If their data is gone for good, delete their PVCs`;
    return {
      status: { ...base, phase: "Pending", message, lost },
      actions: [],
      ownsPods: false,
      event: { reason: "RecoveryWaiting", message, warning: false },
    };
  }
  if (withData.length === 0)
    return refuse(
      "NoSurvivor",
      `no voter of ${voters.map((v) => v.id).join(", ") || "the last recorded configuration"} holds data; nothing was changed: restore the newest backup into a new RqCluster (spec.restore)`,
    );
  const survivor = withData[0]!;
  const others = withData.slice(1);
  const entriesLost = others.reduce((n, v) => Math.max(n, v.indexes!.lastLogIndex - survivor.indexes!.lastLogIndex), 0);
  const message =
    `recovering from ${survivor.id} (Raft log to index ${survivor.indexes!.lastLogIndex}, applied ${survivor.indexes!.appliedIndex}, term ${survivor.indexes!.term}); ` +
    `lost: ${lost.join(", ") || "none"}; ` +
    `${entriesLost} entr${entriesLost === 1 ? "y" : "ies"} other survivors held beyond it will be discarded; ` +
    `entries past index ${survivor.indexes!.lastLogIndex} that only ${lost.join(", ") || "the lost voters"} held are lost and cannot be counted`;
  const status: RecoveryStatus = {
    ...base,
    phase: "Stopping",
    message,
    survivor: survivor.id,
    survivors: withData.map((v) => ({ id: v.id, ...v.indexes! })),
    lost,
    entriesLost,
    startedAt: now,
  };
  const next = stopping(o, r, status);
  return { ...next, event: { reason: "RecoveryStarted", message, warning: true } };
}

/** Every Pod goes: rqlited must not run on the survivor's volume while peers.json is written. */
function stopping(o: Observed, r: RecoveryObservation, status: RecoveryStatus): RecoveryPlan {
  const running = o.pods.filter((p) => !isTerminating(p));
  if (o.pods.length > 0)
    return {
      status,
      ownsPods: true,
      actions: running.map((p) => ({
        type: "deletePod",
        name: podName(p),
        reason: "RecoveryStopping",
        message: `deleted Pod ${podName(p)} (${p.metadata?.labels?.[LABEL_ROLE] ?? "node"}) for the recovery from ${status.survivor}: peers.json is written while no rqlited runs`,
      })),
    };
  return writePeers(o, r, { ...status, phase: "WritingPeers" });
}

function writePeers(o: Observed, r: RecoveryObservation, status: RecoveryStatus): RecoveryPlan {
  if (r.writer) return { status, actions: [], ownsPods: true };
  const pod = renderRecoveryPod(o.cluster, o.addressing, status.survivor!);
  return {
    status,
    ownsPods: true,
    actions: [
      {
        type: "create",
        object: pod,
        reason: "RecoveryWritingPeers",
        message: `created Pod ${podName(pod)} to write peers.json naming ${status.survivor} alone into its volume`,
      },
    ],
  };
}

function writingPeers(o: Observed, r: RecoveryObservation, status: RecoveryStatus, now: string): RecoveryPlan {
  // A node Pod made meanwhile (by hand) would run rqlited on the volume: it goes first.
  if (o.pods.length > 0) return stopping(o, r, status);
  const phase = r.writer?.status?.phase;
  if (!r.writer) return writePeers(o, r, status);
  if (phase !== "Succeeded" && phase !== "Failed") return { status, actions: [], ownsPods: true };
  const name = recoveryPodName(o.cluster.name);
  const removeWriter: Action = {
    type: "delete",
    target: { ...POD, name },
    reason: "RecoveryWriterRemoved",
    message: `deleted Pod ${name}, which ${phase === "Succeeded" ? "wrote" : "failed to write"} peers.json`,
  };
  if (phase === "Failed") {
    const why = r.writer.status?.containerStatuses?.[0]?.state?.terminated?.message?.trim() || "it exited non-zero";
    const message = `writing peers.json into ${status.survivor}'s volume failed: ${why}; the Pods come back as they were. Look at the volume, then ask again with a new spec.recovery.requestedAt`;
    return {
      status: { ...status, phase: "Failed", message, completedAt: now },
      actions: [removeWriter],
      ownsPods: false,
      event: { reason: "RecoveryFailed", message, warning: true },
    };
  }
  const message = `peers.json names ${status.survivor} alone; its Pod starts and recovers, the other voters join it on empty volumes`;
  return {
    status: { ...status, phase: "Restarting", message },
    actions: [removeWriter],
    // The usual plan recreates the Pods from the next reconcile on.
    ownsPods: true,
    event: { reason: "RecoveryRestarting", message, warning: false },
  };
}

function restarting(o: Observed, status: RecoveryStatus, now: string): RecoveryPlan {
  if (!o.raft) return { status, actions: [], ownsPods: false };
  const message = `recovered: ${o.raft.leader} leads again; ${status.message ?? ""}`.trim();
  return {
    status: { ...status, phase: "Completed", message, completedAt: now },
    actions: [],
    ownsPods: false,
    event: { reason: "RecoveryCompleted", message, warning: false },
  };
}
