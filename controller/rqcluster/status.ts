// RqCluster status from what one reconcile observed. Pure: the caller writes the result only
// when it differs from the live status, as a merge patch that also clears keys which no longer
// hold, at any depth (a leader that is gone, a backup uploader no longer read): a merge patch
// without them would leave the stale values in place.
import type { V1Pod } from "@kubernetes/client-node";
import type { Condition, Member, RqClusterStatus } from "../../shared/index.js";
import { parseImageReference } from "../../shared/image.js";
import { scaleSelector } from "../../shared/names.js";
import type { Json } from "../runtime/writer.js";
import { adoptedFoundingVolumes } from "./backup/plan.js";
import {
  backupStatus,
  restoredCondition,
  restoreHolds,
  restoreStatus,
  retentionOutcome,
  type BackupStatusInputs,
} from "./backup/status.js";
import { isPodReady, type SecretProblem } from "../access/clusterView.js";
import { quorum as quorumOf, roleOf, type Facts } from "./plan/facts.js";
import type { Observed } from "./plan/types.js";
import type { ClusterView } from "./render/cluster.js";

export type Phase = NonNullable<RqClusterStatus["phase"]>;

/** A problem that keeps the cluster from converging, shown in its conditions. */
export interface Problem {
  reason: string;
  message: string;
}

export interface StatusInputs {
  observed: Observed;
  facts: Facts;
  /** The cluster has been Available before: later shortfalls are Degraded, not Creating. */
  wasAvailable: boolean;
  /** What blocked this reconcile (name conflicts, refused storage growth, ...). */
  problems: Problem[];
  /** What the running change holds back until it is done (nodes that cannot join mid-upgrade). */
  holds?: Problem[];
  /** Why a retention delete the plan asked for failed, when one did. */
  retentionFailure?: string;
}

const rqliteImage = (pod: V1Pod) => pod.spec?.containers.find((c) => c.name === "rqlite")?.image;

export function computeStatus(
  c: ClusterView,
  inputs: StatusInputs,
  previous: RqClusterStatus | undefined,
  now: Date,
): RqClusterStatus {
  const { observed: o, facts: f, problems } = inputs;
  const voters = o.pods.filter((p) => roleOf(p) === "voter");
  const readers = o.pods.filter((p) => roleOf(p) === "read-only");
  const readyVoters = voters.filter(isPodReady).length;
  const readyReaders = readers.filter(isPodReady).length;
  const desiredVoters = c.spec.replicas;
  const quorum = quorumOf(desiredVoters);
  const countsMatch = voters.length === desiredVoters && readers.length === c.spec.readReplicas;
  const allReady = countsMatch && readyVoters === desiredVoters && readyReaders === c.spec.readReplicas;
  // A Ready voter passed rqlite's own /readyz (it knows a leader), so Pods tell availability
  // even when the operator itself cannot reach rqlite; the conditions then say why.
  const available = readyVoters >= quorum;

  // spec.backup and spec.restore read from the cluster as observed, with spec.restore resolved.
  const backupInputs: BackupStatusInputs = {
    cluster: o.cluster,
    previous,
    readings: o.backupReadings,
    restoreCounts: o.restoreCounts,
    restoreLeaderData: o.restoreLeaderData,
    adoptedVolumes: o.cluster.spec.restore ? adoptedFoundingVolumes(o.cluster, o.pvcs, f.bootstrapExpect) : [],
    retention: retentionOutcome(o, inputs.retentionFailure),
    restoreProblem: o.restoreProblem,
    ...(o.restoreLoader?.pod ? { loader: o.restoreLoader.pod } : {}),
    pods: o.pods,
    now,
  };
  const restored = restoredCondition(backupInputs);
  const restoring = restoreHolds(restored);

  // Hibernated once the last Pod is gone; until then the Pods going are the plan, not a fault.
  const hibernating = c.spec.hibernate && !c.spec.paused;
  const hibernated = hibernating && o.pods.length === 0;
  // The phase the Pods tell; Progressing follows it even while a restore holds the phase below.
  let podPhase: Phase;
  if (c.spec.paused) podPhase = "Paused";
  else if (hibernated) podPhase = "Hibernated";
  else if (o.pods.length === 0) podPhase = "Pending";
  else if (!inputs.wasAvailable && !available) podPhase = "Creating";
  else if (!countsMatch) podPhase = "Scaling";
  else if (f.outdated.length > 0) podPhase = "Upgrading";
  else if (!allReady) podPhase = "Degraded";
  else podPhase = "Running";

  const phase: Phase = restoring && !c.spec.paused ? restoring.phase : podPhase;

  const images = new Set(voters.map(rqliteImage).filter(Boolean));
  // Without a leader's answer, the membership the last leader reported stays (with readiness
  // from the Pods): it is what the next reconcile needs to bring back members that quorum counts
  // on (Observed.lastMembers). Only a cluster that never had a leader lists its Pods instead.
  const podReady = (id: string) => o.pods.some((p) => p.metadata?.name === id && isPodReady(p));
  const members: Member[] = o.raft
    ? o.raft.members.map((m) => ({ id: m.id, voter: m.voter, ready: m.reachable, address: m.address ?? "" }))
    : previous?.members?.length
      ? previous.members.map((m) => ({ ...m, ready: podReady(m.id) }))
      : o.pods.map((p) => ({
          id: p.metadata!.name!,
          voter: roleOf(p) === "voter",
          ready: isPodReady(p),
          address: `${p.metadata!.name}.${c.headlessService}.${c.namespace}`,
        }));
  members.sort((a, b) => a.id.localeCompare(b.id, "en", { numeric: true }));

  const progressing =
    (hibernating && !hibernated) || podPhase === "Creating" || podPhase === "Scaling" || podPhase === "Upgrading";
  // While scaling or rolling, a node down is the plan, not a fault.
  const degraded = inputs.wasAvailable && !allReady && !c.spec.paused && !progressing;
  const blocked = problems[0];
  const held = inputs.holds?.[0];
  const unavailableWhy = o.raft
    ? `${readyVoters} of ${desiredVoters} voters ready; quorum needs ${quorum}`
    : `no rqlite leader answered: ${o.rqliteProblem ?? "unknown"}`;
  const secrets = secretsCondition(c, [...(f.auth.problem ? [f.auth.problem] : []), ...(o.secretProblems ?? [])]);
  const conditions: Array<Omit<Condition, "lastTransitionTime">> = hibernating
    ? [...hibernationConditions(c, o, readyVoters, hibernated), ...secrets]
    : [
        restoring
          ? restoring.available
          : available
            ? {
                type: "Available",
                status: "True",
                reason: "QuorumReady",
                message: o.raft
                  ? `${readyVoters} of ${desiredVoters} voters ready (quorum ${quorum}), leader ${o.raft.leader}`
                  : `${readyVoters} of ${desiredVoters} voters ready (quorum ${quorum}); ${unavailableWhy}`,
              }
            : {
                type: "Available",
                status: "False",
                reason: o.raft ? "NoQuorum" : "RqliteUnreachable",
                message: unavailableWhy,
              },
        blocked
          ? {
              type: "Progressing",
              status: "False",
              reason: blocked.reason,
              message: problems.map((p) => p.message).join("; "),
            }
          : progressing
            ? {
                type: "Progressing",
                status: "True",
                reason: held ? held.reason : podPhase,
                message: `${podPhase.toLowerCase()}: ${voters.length}/${desiredVoters} voters, ${readers.length}/${c.spec.readReplicas} read replicas, ${f.outdated.length} outdated${held ? `; ${held.message}` : ""}`,
              }
            : {
                type: "Progressing",
                status: "False",
                reason: c.spec.paused ? "Paused" : "Converged",
                message: c.spec.paused
                  ? "spec.paused is true: the operator changes nothing"
                  : "every node matches the spec",
              },
        degraded
          ? {
              type: "Degraded",
              status: "True",
              reason: "NodesNotReady",
              message: `${readyVoters + readyReaders} of ${desiredVoters + c.spec.readReplicas} nodes ready`,
            }
          : allReady
            ? { type: "Degraded", status: "False", reason: "AllNodesReady", message: "no node is missing or unready" }
            : {
                type: "Degraded",
                status: "False",
                reason: c.spec.paused ? "Paused" : "NotYetAvailable",
                message: c.spec.paused
                  ? "spec.paused is true: not judged"
                  : "the cluster has not been available yet; see Progressing",
              },
        ...secrets,
        ...(restored ? [restored] : []),
      ];
  conditions.unshift(readyCondition(c, conditions));
  const backup = backupStatus(backupInputs);
  const restore = restoreStatus(backupInputs);
  // A hibernated cluster runs no Pod: the images it ran last stay, for the webhook to judge steps by.
  const kept = hibernated && previous ? { currentImage: previous.currentImage, images: previous.images } : undefined;

  return {
    observedGeneration: c.generation,
    phase,
    replicas: voters.length,
    readyReplicas: readyVoters,
    readReplicasReady: readyReaders,
    selector: scaleSelector(c.name),
    ...(o.raft ? { leader: o.raft.leader } : {}),
    ...(kept?.currentImage ? { currentImage: kept.currentImage } : {}),
    ...(!kept && images.size === 1 ? { currentImage: [...images][0] } : {}),
    ...versionOf(kept?.currentImage ?? (images.size === 1 ? [...images][0] : undefined)),
    images:
      kept?.images ??
      [...new Set(o.pods.filter((p) => !p.metadata?.deletionTimestamp).map(rqliteImage))]
        .filter((i): i is string => Boolean(i))
        .sort(),
    members,
    ...(backup ? { backup } : {}),
    ...(restore ? { restore } : {}),
    conditions: conditions.map((cond) =>
      withTransitionTime({ ...cond, observedGeneration: c.generation }, previous?.conditions, now),
    ),
  };
}

/** status.version, the Version column: the tag of the one image every voter runs. */
function versionOf(image: string | undefined): { version?: string } {
  const tag = image === undefined ? undefined : parseImageReference(image)?.tag;
  return tag === undefined ? {} : { version: tag };
}

/**
 * Ready, the condition `kubectl wait --for=condition=Ready`, Flux's kstatus and Argo CD read: True
 * when the cluster serves (Available) and is what its spec asks (not Progressing, blocked or
 * Degraded), as CloudNativePG's Ready means its cluster is healthy and reconciled. While paused
 * it is False, for the operator does not judge a cluster it does not manage.
 */
export function readyCondition(
  c: Pick<ClusterView, "spec">,
  conditions: ReadonlyArray<Omit<Condition, "lastTransitionTime">>,
): Omit<Condition, "lastTransitionTime"> {
  const of = (type: string) => conditions.find((cond) => cond.type === type);
  const available = of("Available");
  const progressing = of("Progressing");
  const degraded = of("Degraded");
  const notReady = (reason: string, message: string) => ({ type: "Ready", status: "False", reason, message }) as const;
  if (c.spec.paused) return notReady("Paused", "spec.paused is true: the operator changes nothing");
  if (available?.status !== "True") return notReady(available?.reason ?? "NotAvailable", available?.message ?? "");
  if (progressing?.status === "True")
    return notReady(progressing.reason, `a change is in progress: ${progressing.message}`);
  if (progressing?.reason !== "Converged")
    return notReady(progressing?.reason ?? "NotConverged", progressing?.message ?? "");
  if (degraded?.status === "True") return notReady(degraded.reason, degraded.message);
  return { type: "Ready", status: "True", reason: "ClusterReady", message: available.message };
}

/** Available, Progressing and Degraded of a cluster whose spec.hibernate is true. */
function hibernationConditions(
  c: ClusterView,
  o: Observed,
  readyVoters: number,
  hibernated: boolean,
): Array<Omit<Condition, "lastTransitionTime">> {
  const volumes = `${o.pvcs.length} PVC${o.pvcs.length === 1 ? "" : "s"} kept`;
  const going = o.pods.map((p) => p.metadata!.name!).join(", ");
  return [
    {
      type: "Available",
      status: "False",
      reason: HIBERNATED,
      message: hibernated
        ? `spec.hibernate is true: no node runs (${volumes}); set it to false to wake the cluster`
        : `spec.hibernate is true: ${readyVoters} of ${c.spec.replicas} voters still ready, Pods ${going} going`,
    },
    hibernated
      ? {
          type: "Progressing",
          status: "False",
          reason: HIBERNATED,
          message: `every Pod is gone, ${volumes}; set spec.hibernate to false to bring the same members back`,
        }
      : {
          type: "Progressing",
          status: "True",
          reason: "Hibernating",
          message: `hibernating: Pods ${going} still to go; ${volumes}`,
        },
    {
      type: "Degraded",
      status: "False",
      reason: HIBERNATED,
      message: "spec.hibernate is true: not judged",
    },
  ];
}

/** Phase and condition reason of a cluster whose Pods are all gone on request. */
export const HIBERNATED = "Hibernated";

/**
 * SecretsReady, for a cluster whose spec names Secrets the operator reads (tls.http's CA, auth's
 * users, backup credentials): False names each Secret and key that is missing, and what it
 * disables; nothing else stops for it.
 */
function secretsCondition(c: ClusterView, problems: SecretProblem[]): Array<Omit<Condition, "lastTransitionTime">> {
  if (problems.length > 0)
    return [
      {
        type: "SecretsReady",
        status: "False",
        reason: problems[0]!.reason,
        message: problems.map((p) => p.message).join("; "),
      },
    ];
  const named = c.spec.tls?.http?.secretName || c.spec.auth?.secretName || c.spec.backup?.s3.credentialsSecret;
  return named
    ? [
        {
          type: "SecretsReady",
          status: "True",
          reason: "SecretsReadable",
          message: "every Secret the spec names is readable",
        },
      ]
    : [];
}

/** A condition keeps its lastTransitionTime until its status changes, as metav1 requires. */
function withTransitionTime(
  cond: Omit<Condition, "lastTransitionTime">,
  previous: Condition[] | undefined,
  now: Date,
): Condition {
  const before = previous?.find((p) => p.type === cond.type);
  const lastTransitionTime =
    before && before.status === cond.status ? before.lastTransitionTime : now.toISOString().replace(/\.\d+Z$/, "Z");
  return { ...cond, lastTransitionTime };
}

/**
 * The merge patch from the live status to `next`, or undefined when they are equal. It carries
 * all of `next`, and null for every key `next` no longer has, at any depth (RFC 7396 removes a
 * key only where the patch says null): a stale status.backup.uploader must go, not linger and
 * make every later reconcile see a difference and patch again. Arrays are replaced whole.
 */
export function statusPatch(previous: RqClusterStatus | undefined, next: RqClusterStatus): Json | undefined {
  if (JSON.stringify(canonical(previous ?? {})) === JSON.stringify(canonical(next))) return undefined;
  return mergePatch((previous ?? {}) as Json, next as Json);
}

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function mergePatch(previous: Json, next: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(next)) {
    if (v === undefined) continue;
    const before = previous[k];
    out[k] = isObject(v) && isObject(before) ? mergePatch(before, v) : v;
  }
  for (const k of Object.keys(previous)) if (next[k] === undefined && previous[k] !== undefined) out[k] = null;
  return out;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value as Json)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

/**
 * The status of a cluster whose spec fails shared/'s rules (an object the webhook never judged):
 * what was there stays, and Progressing and Degraded say why nothing is done.
 */
export function invalidSpecStatus(
  c: Pick<ClusterView, "generation">,
  message: string,
  previous: RqClusterStatus | undefined,
  now: Date,
): RqClusterStatus {
  const said = [
    { type: "Ready", status: "False" as const, reason: INVALID_SPEC, message },
    { type: "Progressing", status: "False" as const, reason: INVALID_SPEC, message },
    { type: "Degraded", status: "True" as const, reason: INVALID_SPEC, message },
  ];
  const kept = (previous?.conditions ?? []).filter((p) => !said.some((s) => s.type === p.type));
  return {
    ...previous,
    conditions: [
      ...kept,
      ...said.map((cond) =>
        withTransitionTime({ ...cond, observedGeneration: c.generation }, previous?.conditions, now),
      ),
    ],
  };
}

/** The reason of the conditions and the Event of a spec that fails validation. */
export const INVALID_SPEC = "InvalidSpec";
