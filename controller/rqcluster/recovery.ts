// The I/O edge of a quorum-loss recovery (plan/recovery.ts decides): which Pod is the recovery's
// own, and what each voter of the last recorded configuration still holds, read from its rqlited.
import type { V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import type { RqBackup, RqCluster, RqClusterStatus } from "../../shared/index.js";
import type { ClusterRqlite } from "../rqlite/adapter.js";
import {
  newestVerifiedBackup,
  recoveryPending,
  type RecoveryObservation,
  type VoterEvidence,
} from "./plan/recovery.js";
import type { Observed } from "./plan/types.js";
import type { Children } from "./ports.js";
import { desiredMembers } from "./render/members.js";
import { LABEL_RECOVERY_OF } from "./render/recovery.js";
import { LABEL_RESTORE_OF } from "./backup/loader.js";

export const recoveryAsked = (cluster: RqCluster): boolean =>
  recoveryPending(cluster.spec?.recovery, cluster.status?.recovery);

/**
 * The one-shot Pods indexed under the cluster that are no node of it: a recovery's writer, and a
 * restore's loader (backup/loader.ts).
 */
export function splitOneShotPods(children: Children): { nodes: Children; writer?: V1Pod; loader?: V1Pod } {
  const labelled = (label: string) => (p: V1Pod) => p.metadata?.labels?.[label] !== undefined;
  const isWriter = labelled(LABEL_RECOVERY_OF);
  const isLoader = labelled(LABEL_RESTORE_OF);
  const writer = children.pods.find(isWriter);
  const loader = children.pods.find(isLoader);
  return {
    nodes: { ...children, pods: children.pods.filter((p) => !isWriter(p) && !isLoader(p)) },
    ...(writer ? { writer } : {}),
    ...(loader ? { loader } : {}),
  };
}

/**
 * Each voter the last status recorded (the desired ones when none was): whether a bound volume
 * is there, and, when its Pod runs, the Raft indexes its rqlited reports. rqlited answers /status
 * without a leader, so a survivor that runs alone can be read.
 */
export async function observeRecovery(
  rqlite: ClusterRqlite,
  o: Observed,
  writer: V1Pod | undefined,
  status: RqClusterStatus | undefined,
  /** The namespace's RqBackups, read only for a recovery from Backup. */
  listBackups: (() => Promise<RqBackup[]>) | undefined,
): Promise<RecoveryObservation> {
  const recorded = (status?.members ?? []).filter((m) => m.voter !== false).map((m) => m.id);
  const ids = recorded.length
    ? recorded
    : desiredMembers(o.cluster.name, o.cluster.spec.replicas, 0).map((m) => m.name);
  // When the cluster last stopped being Available: about when quorum went. A claim made after
  // it is a replacement the operator made for a lost voter, and holds none of the cluster's data.
  const available = status?.conditions?.find((x) => x.type === "Available");
  const lostAt = available?.status === "False" ? Date.parse(available.lastTransitionTime) : NaN;
  const mayHoldData = (p: V1PersistentVolumeClaim) =>
    !p.metadata?.deletionTimestamp &&
    p.status?.phase === "Bound" &&
    !(new Date(p.metadata?.creationTimestamp ?? 0).getTime() >= lostAt);
  const voters = await Promise.all(
    ids.map(async (id): Promise<VoterEvidence> => {
      // A claim that never bound (waiting for its first consumer) holds no data either; one that
      // may, until its rqlited says otherwise.
      const volume = o.pvcs.some((p) => p.metadata?.name === id && mayHoldData(p));
      const pod = o.pods.find((p) => p.metadata?.name === id);
      const runs = pod?.status?.podIP && !pod.metadata?.deletionTimestamp;
      const indexes = runs ? await rqlite.raftIndexes(id).catch(() => undefined) : undefined;
      return { id, volume, ...(indexes ? { indexes } : {}) };
    }),
  );
  const backup =
    o.cluster.spec.recovery?.source === "Backup" ? await newestBackup(listBackups, o.cluster.name) : undefined;
  return {
    voters,
    ...(writer ? { writer } : {}),
    ...(status?.recovery ? { previous: status.recovery } : {}),
    ...(backup ? { backup } : {}),
  };
}

async function newestBackup(
  list: (() => Promise<RqBackup[]>) | undefined,
  cluster: string,
): Promise<RecoveryObservation["backup"]> {
  if (!list) return { problem: "this controller cannot list RqBackups" };
  try {
    return newestVerifiedBackup(await list(), cluster);
  } catch (err) {
    return { problem: `its RqBackups could not be listed: ${(err as Error).message}` };
  }
}

/**
 * The backup a recovery from Backup has the founding voters load, from the step that makes their
 * Pods on: they render from it as from spec.restore (-auto-restore, and the Restored condition),
 * and keep doing so once it is done, so that the Pods and the config Secret they mount stay as
 * they were made. `location` is the object recorded when the recovery chose it: a restore source
 * kept from before (an earlier restore or recovery) is not it.
 */
export function recoveryRestore(
  status: RqClusterStatus | undefined,
): { spec: { backup: string }; location: string; done: boolean } | undefined {
  const r = status?.recovery;
  if (!r?.backup?.location || (r.phase !== "Restoring" && r.phase !== "Completed")) return undefined;
  return { spec: { backup: r.backup.name }, location: r.backup.location, done: r.phase === "Completed" };
}
