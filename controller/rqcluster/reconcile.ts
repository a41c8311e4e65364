// One reconcile of one RqCluster: observe -> plan -> apply -> status. The plan is pure
// (./plan/); this file only sequences the steps. Level-based: every step compares with what is
// there, so running it on a converged cluster writes nothing.
import type { KubernetesObject, V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import { applyDefaults, formatErrors, validateCreate, type RqCluster } from "../../shared/index.js";
import { API_VERSION, FINALIZER, GROUP, KIND, RQLITE_CONTAINER } from "../../shared/names.js";
import type { ClusterRqlite } from "../rqlite/adapter.js";
import type { EventSink } from "../runtime/events.js";
import { refOf, type ObjectRef, type Writer } from "../runtime/writer.js";
import { applyPlan } from "./apply.js";
import { observe, observeNeeds } from "./observe.js";
import { deriveFacts, HOLDS, plan, planFinalize, PROBLEMS } from "./plan/index.js";
import type { Plan } from "./plan/types.js";
import type { Children } from "./ports.js";
import { clusterView, type ClusterView } from "./render/cluster.js";
import type { Addressing } from "../access/clusterView.js";
import { computeStatus, INVALID_SPEC, invalidSpecStatus, statusPatch, type Problem } from "./status.js";
import { clusterRqlite } from "../rqlite/adapter.js";
import type { ListBackups, ReadBackup, ReadClaim, RestoreRetries, RetentionSchedule } from "./backup/observe.js";
import { backupRecheckMs } from "./backup/plan.js";
import type { S3Gate } from "../access/s3.js";
import { observeRecovery, recoveryAsked, recoveryRestore, splitOneShotPods } from "./recovery.js";

export interface ReconcileDeps {
  writer: Writer;
  /** Where S3 requests may go and with whose credentials. */
  s3: S3Gate;
  events: EventSink;
  addressing: Addressing;
  operatorNamespace: string;
  unreachableSince: ReadonlyMap<string, number>;
  nodeFailureTimeoutMs: number;
  /** PodDisruptionBudgets of the cluster's namespace that are not its own. */
  otherPdbs?(): V1PodDisruptionBudget[];
  /** Whether a disruption controller computes budgets here (see plan/eviction.ts). */
  disruptionControllerRuns?(): boolean | undefined;
  /** Children of this cluster's names that exist with another owner. */
  conflicts: (c: ReturnType<typeof clusterView>) => string[];
  awaitPodCache(name: string, seen: (pod: KubernetesObject | undefined) => boolean): Promise<void>;
  /** Growth refusals remembered for this cluster's namespace (see Observed.refusedGrowth). */
  refusedGrowth(namespace: string): ReadonlyMap<string, { size: string; message: string }>;
  recordRefusal(namespace: string, pvc: string, size: string, message: string): void;
  now(): Date;
  /** Reads an RqBackup, for spec.restore.backup. */
  readBackup?: ReadBackup;
  /** Lists a namespace's RqBackups, for status.backup.lastSuccessfulTime. */
  listBackups?: ListBackups;
  /** The last ca.crt read from each tls.http Secret (see ObserveDeps.knownCas). */
  knownCas?: Map<string, string>;
  /** When retention last listed each cluster's bucket, kept across reconciles. */
  retention: RetentionSchedule;
  restoreRetries: RestoreRetries;
  /** The operator's own image, for the loader of a restore from a claim (backup/loader.ts). */
  loaderImage?: () => Promise<string>;
  /** Reads a claim of the cluster's namespace, for spec.restore.pvc. */
  readClaim?: ReadClaim;
}

export interface ReconcileResult {
  /** What the step did or waits for, for logs; empty when the cluster was already converged. */
  actions: string[];
  requeueAfterMs?: number;
  /** The rqlite leader this reconcile observed, if one answered (for the has_leader gauge). */
  leader?: string;
  /** The nodes that run and how to reach them, for the node metrics (see scraper.ts). */
  running?: { rqlite: ClusterRqlite; nodes: Array<{ id: string; uploads: boolean }> };
}

const CLUSTER = { apiVersion: API_VERSION, kind: KIND };

export async function reconcileCluster(
  deps: ReconcileDeps,
  cluster: RqCluster,
  children: Children,
): Promise<ReconcileResult> {
  const plain = clusterView(cluster);
  // A recovery from a backup loads it as spec.restore would (see recoveryRestore).
  const recovering = recoveryRestore(cluster.status);
  const c: ClusterView = recovering ? { ...plain, spec: { ...plain.spec, restore: recovering.spec } } : plain;
  const { nodes: owned, writer, loader } = splitOneShotPods(ownedBy(c.uid, children));
  const self = refOf(CLUSTER, cluster as KubernetesObject);
  // Judged again here as the webhook judges it: the webhook may have been skipped (an update of
  // an object being deleted, a webhook that was not installed yet), and what a spec names is read.
  const invalid = validateCreate(applyDefaults(cluster), deps.s3.policy).errors;
  const problem = invalid.length > 0 ? formatErrors(`${KIND}.${GROUP}`, c.name, invalid) : undefined;
  if (cluster.metadata?.deletionTimestamp) return finalize(deps, cluster, c, owned, self, problem);
  if (problem) {
    const message = `${problem}; the operator changes nothing for this RqCluster until its spec is fixed`;
    deps.events.warning(INVALID_SPEC, message);
    const patch = statusPatch(cluster.status, invalidSpecStatus(c, message, cluster.status, deps.now()));
    if (patch) await deps.writer.patchStatus(self, { status: patch });
    return { actions: [`refused: ${problem}`] };
  }
  const observation = await observe(
    {
      writer: deps.writer,
      s3: deps.s3,
      addressing: deps.addressing,
      operatorNamespace: deps.operatorNamespace,
      unreachableSince: deps.unreachableSince,
      nodeFailureTimeoutMs: deps.nodeFailureTimeoutMs,
      conflicts: deps.conflicts(c),
      ...(deps.otherPdbs ? { otherPdbs: deps.otherPdbs() } : {}),
      lastMembers: (cluster.status?.members ?? []).map((m) => m.id),
      lastImages: cluster.status?.images ?? [],
      refusedGrowth: deps.refusedGrowth(c.namespace),
      now: deps.now().getTime(),
      readBackup: deps.readBackup,
      listBackups: deps.listBackups,
      retention: deps.retention,
      restoreRetries: deps.restoreRetries,
      previousUploader: cluster.status?.backup?.uploader,
      ...(deps.knownCas ? { knownCas: deps.knownCas } : {}),
      restored: recovering
        ? recovering.done
        : cluster.status?.conditions?.some((x) => x.type === "Restored" && x.status === "True") === true,
      ...(recovering ? { restoreLocation: recovering.location } : {}),
      ...(deps.loaderImage ? { loaderImage: deps.loaderImage } : {}),
      ...(deps.readClaim ? { readClaim: deps.readClaim } : {}),
      ...(loader ? { loader } : {}),
    },
    c,
    owned,
  );
  const { rqlite } = observation;
  let observed = observation.observed;
  const applyDeps = {
    writer: deps.writer,
    events: deps.events,
    rqlite,
    namespace: c.namespace,
    awaitPodCache: (name: string, seen: (pod: KubernetesObject | undefined) => boolean) =>
      deps.awaitPodCache(name, seen),
    disruptionBudget: () => observed.pdbs.find((p) => p.metadata?.name === c.pdbName),
    disruptionControllerRuns: () => deps.disruptionControllerRuns?.(),
    s3: { gate: deps.s3, owner: c.self },
  };
  const finalizers = cluster.metadata?.finalizers ?? [];
  const done: string[] = [];
  if (!finalizers.includes(FINALIZER)) {
    await deps.writer.patch(self, {
      metadata: { finalizers: [...finalizers, FINALIZER], resourceVersion: cluster.metadata?.resourceVersion },
    });
    const message = `added finalizer ${FINALIZER} to honour storage.reclaimPolicy=${c.spec.storage.reclaimPolicy} on delete`;
    deps.events.normal("FinalizerAdded", message);
    done.push(message);
  }

  if (recoveryAsked(cluster)) {
    const list = deps.listBackups;
    observed.recovery = await observeRecovery(
      rqlite,
      observed,
      writer,
      cluster.status,
      list && (() => list(c.namespace)),
    );
  }
  let next: Plan = plan(observed);
  if (next.needs?.length) {
    observed = await observeNeeds(deps, observed, rqlite, next.needs);
    next = plan(observed);
    if (next.needs?.length) throw new Error(`the plan asked again for ${next.needs.map((n) => n.type).join(", ")}`);
  }
  if (next.recovery?.event) {
    const e = next.recovery.event;
    if (e.warning) deps.events.warning(e.reason, e.message);
    else deps.events.normal(e.reason, e.message);
  }
  const applied = await applyPlan(applyDeps, next.actions);
  done.push(...applied.done);
  for (const w of next.waits) {
    done.push(w.message);
    if (w.warning) deps.events.warning(w.reason, w.message);
  }
  // A refused eviction is a wait like the plan's own (its Event is already sent).
  for (const w of applied.waits) done.push(w.message);
  for (const r of applied.refused) deps.recordRefusal(c.namespace, r.pvc, r.size, r.message);
  const problems: Problem[] = [...next.waits.filter((w) => PROBLEMS.has(w.reason)), ...applied.refused];
  // The caches do not show children this step created yet, so a status now would be stale and
  // rewritten at once; their watch events bring the next reconcile, which writes it.
  if (applied.created === 0) {
    const previous = cluster.status;
    const wasAvailable =
      previous?.conditions?.some((x) => x.type === "Available" && x.status === "True") === true ||
      (previous?.phase !== undefined && !["Pending", "Creating"].includes(previous.phase));
    const status = computeStatus(
      c,
      {
        observed,
        facts: deriveFacts(observed),
        wasAvailable,
        problems,
        holds: next.waits.filter((w) => HOLDS.has(w.reason)),
        ...(applied.retentionFailure ? { retentionFailure: applied.retentionFailure } : {}),
      },
      previous,
      deps.now(),
    );
    const recovery = next.recovery?.status ?? previous?.recovery;
    const patch = statusPatch(previous, recovery ? { ...status, recovery } : status);
    if (patch) await deps.writer.patchStatus(self, { status: patch });
  }
  const recheck = [backupRecheckMs(c), applied.requeueAfterMs].filter((ms) => ms !== undefined);
  const requeueAfterMs = recheck.length ? Math.min(next.requeueAfterMs ?? Infinity, ...recheck) : next.requeueAfterMs;
  return {
    actions: done,
    ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}),
    ...(observed.raft ? { leader: observed.raft.leader } : {}),
    running: { rqlite, nodes: runningNodes(owned.pods) },
  };
}

/**
 * A deleted cluster needs only its PVCs kept or deleted (storage.reclaimPolicy) and the finalizer
 * removed: no Secret is read, no node or S3 server is asked, whatever its spec names now. Its spec
 * may have changed after the deletion, past the webhook: an invalid one is said in an Event.
 */
async function finalize(
  deps: ReconcileDeps,
  cluster: RqCluster,
  c: ClusterView,
  owned: Children,
  self: ObjectRef,
  problem: string | undefined,
): Promise<ReconcileResult> {
  deps.retention.forget(c.uid);
  if (problem)
    deps.events.warning(INVALID_SPEC, `${problem}; the operator only finalizes this RqCluster, which is being deleted`);
  const finalizers = cluster.metadata?.finalizers ?? [];
  if (!finalizers.includes(FINALIZER)) return { actions: [] };
  const applyDeps = {
    writer: deps.writer,
    events: deps.events,
    rqlite: clusterRqlite((node) => {
      throw new Error(`rqlite node ${node} is not asked anything while its RqCluster is deleted`);
    }),
    namespace: c.namespace,
    awaitPodCache: (name: string, seen: (pod: KubernetesObject | undefined) => boolean) =>
      deps.awaitPodCache(name, seen),
    disruptionBudget: () => undefined,
  };
  const applied = await applyPlan(applyDeps, planFinalize({ cluster: c, pvcs: owned.pvcs }));
  await deps.writer.patch(self, {
    metadata: {
      finalizers: finalizers.filter((f) => f !== FINALIZER),
      resourceVersion: cluster.metadata?.resourceVersion,
    },
  });
  deps.events.normal("FinalizerRemoved", `removed finalizer ${FINALIZER}`);
  return { actions: [...applied.done, `removed finalizer ${FINALIZER}`] };
}

/** Nodes whose Pod runs (has an address and is not going), and whether each uploads backups. */
export function runningNodes(pods: readonly V1Pod[]): Array<{ id: string; uploads: boolean }> {
  return pods
    .filter((p) => p.status?.podIP && !p.metadata?.deletionTimestamp)
    .map((p) => {
      const args = p.spec?.containers.find((c) => c.name === RQLITE_CONTAINER)?.args ?? [];
      return { id: p.metadata!.name!, uploads: args.some((a) => /^--?auto-backup(=|$)/.test(a)) };
    });
}

/** Children whose owner is this cluster, plus same-named ones with no owner (adopted). */
function ownedBy(uid: string, children: Children): Children {
  const mine = <T extends KubernetesObject>(o: T) => {
    const refs = o.metadata?.ownerReferences ?? [];
    return refs.length === 0 || refs.some((r) => r.uid === uid);
  };
  return {
    pods: children.pods.filter(mine),
    pvcs: children.pvcs.filter(mine),
    services: children.services.filter(mine),
    pdbs: children.pdbs.filter(mine),
    networkPolicies: children.networkPolicies.filter(mine),
  };
}
