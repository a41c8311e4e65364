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
// With source Backup (no voter kept any data), from the newest verified RqBackup instead:
//   judge     -> Refused (as above, or a voter holds data, or no verified backup), or Stopping
//   Stopping  -> every Pod deleted
//   ClearingVolumes -> every member's volume made before the recovery is deleted: the founding
//                   voters must start on fresh ones, since rqlite loads no backup into a node
//                   with Raft state, and an old term on a read-only node would refuse the new leader
//   Restoring -> the usual plan makes the Pods and fresh PVCs; the founding voters' Pods load the
//                backup through rqlite's -auto-restore, as for spec.restore (../recovery.ts)
//   Completed once a leader answers and the load is counted.
// A new spec.recovery.requestedAt asks for a new recovery; Refused, Completed and Failed are final
// for the one they answer.
import type { V1Pod } from "@kubernetes/client-node";
import type { RecoveryBackup, RecoverySpec, RecoveryStatus, RqBackup } from "../../../shared/index.js";
import { LABEL_ROLE } from "../../../shared/names.js";
import { renderRecoveryPod, recoveryPodName } from "../render/recovery.js";
import { desiredMembers } from "../render/members.js";
import { restoreOutcome } from "../backup/plan.js";
import { isTerminating, podName, quorum } from "./facts.js";
import type { Action, Observed } from "./types.js";
import { POD, PVC } from "../ports.js";

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
  /** With source Backup: the newest verified RqBackup of the cluster, or why there is none to read. */
  backup?: RecoveryBackup | { problem: string };
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
    case "ClearingVolumes":
      return clearingVolumes(o, r, { ...prev, ...base });
    case "Restoring":
      return restoring(o, { ...prev, ...base }, now);
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
  const source = c.spec.recovery!.source;
  // The webhook allows only these; an object it never saw is refused here the same way.
  if (source !== undefined && source !== "Survivors" && source !== "Backup")
    return refuse(
      "RecoverySourceUnknown",
      `spec.recovery.source ${JSON.stringify(source)} is neither Survivors nor Backup; nothing was changed`,
    );
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
  if (ask(c) === "Backup") return judgeBackup(o, r, base, now, { withData, unknown, refuse });
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
      `no voter of ${voters.map((v) => v.id).join(", ") || "the last recorded configuration"} holds data; nothing was changed: recover from the newest verified backup (spec.recovery.source: Backup, or kubectl rqlite recover --from-backup)`,
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

const ask = (c: Observed["cluster"]) => c.spec.recovery?.source ?? "Survivors";

function judgeBackup(
  o: Observed,
  r: RecoveryObservation,
  base: RecoveryStatus,
  now: string,
  seen: {
    withData: VoterEvidence[];
    unknown: VoterEvidence[];
    refuse: (reason: string, message: string) => RecoveryPlan;
  },
): RecoveryPlan {
  const { withData, unknown, refuse } = seen;
  if (withData.length > 0)
    return refuse(
      "SurvivorsHoldData",
      `voters ${withData.map((v) => v.id).join(", ")} run with their data, which is newer than any backup; nothing was changed: recover from them (spec.recovery.source: Survivors)`,
    );
  if (unknown.length > 0) {
    const message = `waiting: voters ${unknown.map((v) => v.id).join(", ")} still have volumes but their rqlited did not answer; they may hold data newer than any backup. If their data is gone for good, delete their PVCs`;
    return {
      status: { ...base, phase: "Pending", message },
      actions: [],
      ownsPods: false,
      event: { reason: "RecoveryWaiting", message, warning: false },
    };
  }
  const backup = r.backup;
  if (!backup || "problem" in backup)
    return refuse(
      "NoVerifiedBackup",
      `no voter holds data and ${backup?.problem ?? "no RqBackup of this cluster could be read"}; nothing was changed`,
    );
  const message =
    `recovering from RqBackup ${backup.name} (${backup.location}), taken at ${backup.completedAt} and verified at ${backup.verifiedAt}: ` +
    `no voter holds data, so every write after ${backup.completedAt} is lost; every member's volume is replaced by a fresh one`;
  const status: RecoveryStatus = {
    ...base,
    phase: "Stopping",
    message,
    backup,
    lost: r.voters.map((v) => v.id),
    startedAt: now,
  };
  const next = stopping(o, r, status);
  return { ...next, event: { reason: "RecoveryStarted", message, warning: true } };
}

/**
 * The newest RqBackup of `cluster` that was read back and proven to restore (Verified True), by
 * completion time, as a recovery from Backup loads it; or why there is none.
 */
export function newestVerifiedBackup(
  backups: readonly RqBackup[],
  cluster: string,
): RecoveryBackup | { problem: string } {
  const mine = backups.filter((b) => b.spec?.cluster === cluster);
  const usable = mine
    .filter(
      (b) =>
        b.status?.phase === "Completed" &&
        b.status.conditions?.some((x) => x.type === "Verified" && x.status === "True") === true &&
        b.status.verification?.result === "Verified" &&
        (b.spec?.format ?? "binary") === "binary" &&
        b.spec?.destination?.s3 !== undefined &&
        b.status.location?.startsWith("s3://") === true &&
        Number.isFinite(Date.parse(b.status.completedAt ?? "")),
    )
    .sort(
      (a, b) =>
        Date.parse(b.status!.completedAt!) - Date.parse(a.status!.completedAt!) ||
        b.metadata!.name!.localeCompare(a.metadata!.name!),
    );
  const best = usable[0];
  if (!best)
    return {
      problem: `none of its ${mine.length} RqBackup${mine.length === 1 ? "" : "s"} is a Completed binary backup in S3 whose Verified condition is True (set spec.verify on an RqBackup of cluster ${cluster})`,
    };
  return {
    name: best.metadata!.name!,
    location: best.status!.location!,
    completedAt: best.status!.completedAt!,
    ...(best.status!.verification?.verifiedAt ? { verifiedAt: best.status!.verification.verifiedAt } : {}),
  };
}

/** Every Pod goes: rqlited must not run on a volume the recovery writes or replaces. */
function stopping(o: Observed, r: RecoveryObservation, status: RecoveryStatus): RecoveryPlan {
  const running = o.pods.filter((p) => !isTerminating(p));
  const why = status.backup
    ? `its volume is replaced before the founding voters load RqBackup ${status.backup.name}`
    : `peers.json is written while no rqlited runs`;
  if (o.pods.length > 0)
    return {
      status,
      ownsPods: true,
      actions: running.map((p) => ({
        type: "deletePod",
        name: podName(p),
        reason: "RecoveryStopping",
        message: `deleted Pod ${podName(p)} (${p.metadata?.labels?.[LABEL_ROLE] ?? "node"}) for the recovery from ${status.survivor ?? `RqBackup ${status.backup?.name}`}: ${why}`,
      })),
    };
  if (status.backup) return clearingVolumes(o, r, { ...status, phase: "ClearingVolumes" });
  return writePeers(o, r, { ...status, phase: "WritingPeers" });
}

/**
 * The members' PVCs made before the recovery started go; the usual PVC plan makes fresh ones.
 * Only the members' own names: a released PVC of a node scaled away is kept, as always.
 */
function clearingVolumes(o: Observed, r: RecoveryObservation, status: RecoveryStatus): RecoveryPlan {
  if (o.pods.length > 0) return stopping(o, r, status);
  const c = o.cluster;
  const members = new Set(desiredMembers(c.name, c.spec.replicas, c.spec.readReplicas).map((m) => m.name));
  const startedAt = Date.parse(status.startedAt ?? "");
  const old = o.pvcs.filter((p) => {
    const created = Date.parse(String(p.metadata?.creationTimestamp ?? ""));
    // Whole seconds: one made in the recovery's first second may predate it.
    return members.has(p.metadata?.name ?? "") && !(created > startedAt);
  });
  if (old.length > 0)
    return {
      status,
      ownsPods: true,
      actions: old
        .filter((p) => !p.metadata?.deletionTimestamp)
        .map((p) => ({
          type: "delete",
          target: { ...PVC, name: p.metadata!.name! },
          reason: "RecoveryClearingVolumes",
          message: `deleted PVC ${p.metadata!.name} for the recovery from RqBackup ${status.backup?.name}: the founding voters load the backup only on fresh volumes`,
        })),
    };
  const message = `every member's volume is fresh; the founding voters start and load RqBackup ${status.backup?.name} (${status.backup?.location}), taken at ${status.backup?.completedAt}`;
  return {
    status: { ...status, phase: "Restoring", message },
    actions: [],
    // The usual plan makes the Pods from the next reconcile on, which renders them loading the backup.
    ownsPods: true,
    event: { reason: "RecoveryRestoring", message, warning: false },
  };
}

/** Done once a leader answers and rqlite counted the load (or the leader's data shows it). */
function restoring(o: Observed, status: RecoveryStatus, now: string): RecoveryPlan {
  const outcome = restoreOutcome({ counts: o.restoreCounts ?? new Map(), leaderData: o.restoreLeaderData });
  const b = status.backup;
  if (outcome.kind === "loadFailed") {
    const message = `rqlite${outcome.node ? ` on ${outcome.node}` : ""} could not load RqBackup ${b?.name} (${b?.location}); the node's log says why. Ask again with a new spec.recovery.requestedAt once the backup is fixed, or name another`;
    return {
      status: { ...status, phase: "Failed", message, completedAt: now },
      actions: [],
      ownsPods: false,
      event: { reason: "RecoveryFailed", message, warning: true },
    };
  }
  if (!o.raft || outcome.kind === "pending") return { status, actions: [], ownsPods: false };
  const message = `recovered from RqBackup ${b?.name} (${b?.location}), taken at ${b?.completedAt}: ${o.raft.leader} leads; every write after ${b?.completedAt} is lost`;
  return {
    status: { ...status, phase: "Completed", message, completedAt: now },
    actions: [],
    ownsPods: false,
    event: { reason: "RecoveryCompleted", message, warning: false },
  };
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
