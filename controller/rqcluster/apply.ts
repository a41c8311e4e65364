// The executor: performs a plan's actions in order through the API server and rqlite, with an
// Event each so `kubectl describe rqc` tells the story. After deleting or creating a Pod it waits
// until the caches show it, so that the next reconcile cannot plan from a view that predates
// its own write (a deleted Pod still cached as Ready would let a second voter go).
import type { KubernetesObject, V1PersistentVolumeClaim, V1PodDisruptionBudget } from "@kubernetes/client-node";
import { KubeApiError } from "../runtime/kubeClient.js";
import type { EventSink } from "../runtime/events.js";
import type { Writer } from "../runtime/writer.js";
import type { ClusterRqlite } from "../rqlite/adapter.js";
import type { S3Client } from "@aws-sdk/client-s3";
import type { S3Connection } from "../access/s3Connection.js";
import { deleteObject, describeS3Error, s3ClientFor, type S3Gate } from "../access/s3.js";
import { afterRefusedEviction, isMultipleBudgetsRefusal, multipleBudgetsWait } from "./plan/eviction.js";
import { STORAGE_EXPANDED } from "./plan/children.js";
import type { Action, Wait } from "./plan/types.js";
import { POD } from "./ports.js";
import type { Problem } from "./status.js";

export interface ApplyDeps {
  writer: Writer;
  events: EventSink;
  rqlite: ClusterRqlite;
  namespace: string;
  /** Resolves once the Pod cache satisfies `seen`, or rejects after a bound. */
  awaitPodCache(name: string, seen: (pod: KubernetesObject | undefined) => boolean): Promise<void>;
  /** The cluster's own PodDisruptionBudget as cached, judged when an eviction is refused. */
  disruptionBudget?(): V1PodDisruptionBudget | undefined;
  /** Whether a disruption controller computes budgets here (see disruptionControllerRuns). */
  disruptionControllerRuns?(): boolean | undefined;
  /** Where retention's deletes may go, and the RqCluster whose namespace holds their credentials. */
  s3?: { gate: S3Gate; owner: KubernetesObject };
}

export interface Applied {
  /** Messages of what was done, for the log. */
  done: string[];
  /** PVC growth the API server refused (the user must fix it); the rest of the plan still ran. */
  refused: Array<Problem & { pvc: string; size: string }>;
  /** Objects created: their watch events bring the next reconcile. */
  created: number;
  /** Evictions the PodDisruptionBudget refused: the reconcile waits and looks again. */
  waits: Wait[];
  requeueAfterMs?: number;
  /**
   * Why a retention delete failed (status.backup.lastFailure); the deletes after it are skipped,
   * the rest of the plan still ran.
   */
  retentionFailure?: string;
}

const ref = (namespace: string, t: { apiVersion: string; kind: string; name: string }) => ({
  apiVersion: t.apiVersion,
  kind: t.kind,
  metadata: { name: t.name, namespace },
});

export async function applyPlan(deps: ApplyDeps, actions: Action[]): Promise<Applied> {
  const s3 = s3Clients(deps);
  try {
    return await performAll(deps, s3, actions);
  } finally {
    s3.close();
  }
}

async function performAll(deps: ApplyDeps, s3: S3Clients, actions: Action[]): Promise<Applied> {
  const out: Applied = { done: [], refused: [], created: 0, waits: [] };
  for (const a of actions) {
    let note: string | undefined;
    if (a.type === "deleteBackupObject" && out.retentionFailure) continue;
    try {
      const outcome = await perform(deps, s3, a);
      if (outcome && "wait" in outcome) {
        const { retryAfterMs, ...w } = outcome.wait;
        out.waits.push(w);
        out.requeueAfterMs = Math.min(out.requeueAfterMs ?? retryAfterMs, retryAfterMs);
        if (w.warning) deps.events.warning(w.reason, w.message);
        else deps.events.normal(w.reason, w.message);
        continue;
      }
      note = outcome?.note;
    } catch (err) {
      // A bucket that fails must not stop the cluster's own reconcile: status says it.
      if (a.type === "deleteBackupObject") {
        out.retentionFailure = retentionFailure(a.connection, a.key, err);
        continue;
      }
      const refused = refusedStorageGrowth(a, err);
      if (!refused) throw err;
      // Growth the StorageClass does not allow must not stop status, scaling or rolling.
      out.refused.push(refused);
      deps.events.warning(refused.reason, refused.message);
      continue;
    }
    if (a.type === "create") out.created++;
    const message = note ? `${a.message} (${note})` : a.message;
    out.done.push(message);
    if (a.warning) deps.events.warning(a.reason, message);
    else deps.events.normal(a.reason, message);
  }
  return out;
}

/** What an action ended in, when more than "done": a note for its message, or a wait. */
type Outcome = { note: string } | { wait: Wait & { retryAfterMs: number } } | undefined;

async function perform(deps: ApplyDeps, s3: S3Clients, a: Action): Promise<Outcome> {
  const { writer, rqlite, namespace } = deps;
  switch (a.type) {
    case "create":
      // A Pod is created: a name taken by a Pod the caches do not show yet fails (409) rather
      // than being taken over. Every other child is applied, so that the operator's field
      // manager owns each field it sets from the start (and a later apply can drop one).
      if (a.object.kind !== "Pod") return void (await writer.apply(a.object));
      await writer.create(a.object);
      await deps.awaitPodCache(a.object.metadata!.name!, (p) => p !== undefined);
      return;
    case "apply":
      await writer.apply(a.object);
      return undefined;
    case "patch":
      await writer.patch(ref(namespace, a.target), a.patch);
      return undefined;
    case "delete":
      await writer.delete(ref(namespace, a.target));
      return undefined;
    case "deletePod": {
      const pod = ref(namespace, { ...POD, name: a.name });
      let outcome: Outcome;
      if (a.evict) {
        outcome = await evictOrFallBack(deps, a.name);
        if (outcome && "wait" in outcome) return outcome;
      } else {
        await writer.delete(pod, a.force ? { gracePeriodSeconds: 0 } : undefined);
      }
      await deps.awaitPodCache(a.name, (p) => p === undefined || Boolean(p.metadata?.deletionTimestamp));
      return outcome;
    }
    case "removeFromRaft":
      await rqlite.removeNode(a.leader, a.node);
      return undefined;
    case "transferLeadership":
      await rqlite.transferLeadership(a.from, a.to);
      return undefined;
    case "deleteBackupObject":
      await deleteObject(await s3.get(a.connection), a.connection.bucket, a.key);
      return undefined;
  }
}

/** One S3 client per connection for one plan's deletes, destroyed when the plan is done. */
interface S3Clients {
  get(conn: S3Connection): Promise<S3Client>;
  close(): void;
}

function s3Clients(deps: ApplyDeps): S3Clients {
  const clients = new Map<string, Promise<S3Client>>();
  return {
    get(conn) {
      const key = JSON.stringify(conn);
      let client = clients.get(key);
      if (!client) {
        if (!deps.s3) throw new Error("this reconcile has no S3 access for retention");
        client = s3ClientFor(deps.writer, deps.s3.gate, deps.s3.owner, conn, "spec.backup.s3.credentialsSecret");
        clients.set(key, client);
      }
      return client;
    },
    close() {
      for (const c of clients.values())
        c.then(
          (client) => client.destroy(),
          () => undefined,
        );
    },
  };
}

/** Why a retention delete failed, as status.backup.lastFailure says it. */
function retentionFailure(conn: S3Connection, key: string, err: unknown): string {
  const folder = key.slice(0, key.lastIndexOf("/") + 1);
  return describeS3Error(err, `retention of s3://${conn.bucket}/${folder}`, conn.endpoint);
}

/**
 * A voluntary disruption: evicted, so that the budget's check serializes it with a drain. When
 * the budget refuses it, afterRefusedEviction decides between waiting and a plain delete (no
 * disruption controller on this plane).
 */
async function evictOrFallBack(deps: ApplyDeps, name: string): Promise<Outcome> {
  const pod = ref(deps.namespace, { ...POD, name });
  try {
    await deps.writer.evict(pod);
    return { note: "evicted through the Eviction API" };
  } catch (err) {
    const cause = (err as Error).cause;
    if (cause instanceof KubeApiError && isMultipleBudgetsRefusal(cause.status, cause.message))
      return { wait: multipleBudgetsWait(name, cause.message) };
    if (!(cause instanceof KubeApiError) || cause.status !== 429) throw err;
  }
  const next = afterRefusedEviction(name, deps.disruptionBudget?.(), deps.disruptionControllerRuns?.());
  if (next.do === "wait") {
    const { reason, message, warning, retryAfterMs } = next;
    return { wait: { reason, message, warning, retryAfterMs } };
  }
  await deps.writer.delete(pod);
  return { note: next.why };
}

function refusedStorageGrowth(a: Action, err: unknown): Applied["refused"][number] | undefined {
  if (a.type !== "apply" || a.object.kind !== "PersistentVolumeClaim" || a.reason !== STORAGE_EXPANDED)
    return undefined;
  const cause = (err as Error).cause;
  if (!(cause instanceof KubeApiError) || ![403, 422].includes(cause.status)) return undefined;
  const pvc = a.object as V1PersistentVolumeClaim;
  const size = String(pvc.spec!.resources!.requests!.storage);
  return {
    pvc: pvc.metadata!.name!,
    size,
    reason: "StorageResizeRefused",
    message: `PVC ${pvc.metadata!.name} cannot grow: ${cause.message}; use a StorageClass with allowVolumeExpansion, or set spec.storage.size back`,
  };
}
