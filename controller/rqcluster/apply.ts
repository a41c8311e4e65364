// The executor: performs a plan's actions in order through the API server and rqlite, with an
// Event each so `kubectl describe rqc` tells the story. After deleting or creating a Pod it waits
// until the caches show it, so that the next reconcile cannot plan from a view that predates
// its own write (a deleted Pod still cached as Ready would let a second voter go).
import type { KubernetesObject } from "@kubernetes/client-node";
import { KubeApiError } from "../runtime/kubeClient.js";
import type { EventSink } from "../runtime/events.js";
import type { Writer } from "../runtime/writer.js";
import type { ClusterRqlite } from "../rqlite/adapter.js";
import type { Action } from "./plan/types.js";
import { POD } from "./ports.js";
import type { Problem } from "./status.js";

export interface ApplyDeps {
  writer: Writer;
  events: EventSink;
  rqlite: ClusterRqlite;
  namespace: string;
  /** Resolves once the Pod cache satisfies `seen`, or rejects after a bound. */
  awaitPodCache(name: string, seen: (pod: KubernetesObject | undefined) => boolean): Promise<void>;
}

export interface Applied {
  /** Messages of what was done, for the log. */
  done: string[];
  /** PVC growth the API server refused (the user must fix it); the rest of the plan still ran. */
  refused: Array<Problem & { pvc: string; size: string }>;
  /** Objects created: their watch events bring the next reconcile. */
  created: number;
}

const ref = (namespace: string, t: { apiVersion: string; kind: string; name: string }) => ({
  apiVersion: t.apiVersion,
  kind: t.kind,
  metadata: { name: t.name, namespace },
});

export async function applyPlan(deps: ApplyDeps, actions: Action[]): Promise<Applied> {
  const out: Applied = { done: [], refused: [], created: 0 };
  for (const a of actions) {
    try {
      await perform(deps, a);
    } catch (err) {
      const refused = refusedStorageGrowth(a, err);
      if (!refused) throw err;
      // Growth the StorageClass does not allow must not stop status, scaling or rolling.
      out.refused.push(refused);
      deps.events.warning(refused.reason, refused.message);
      continue;
    }
    if (a.type === "create") out.created++;
    out.done.push(a.message);
    if (a.warning) deps.events.warning(a.reason, a.message);
    else deps.events.normal(a.reason, a.message);
  }
  return out;
}

async function perform(deps: ApplyDeps, a: Action): Promise<void> {
  const { writer, rqlite, namespace } = deps;
  switch (a.type) {
    case "create":
      await writer.create(a.object);
      if (a.object.kind === "Pod") await deps.awaitPodCache(a.object.metadata!.name!, (p) => p !== undefined);
      return;
    case "patch":
      return writer.patch(ref(namespace, a.target), a.patch);
    case "delete":
      return writer.delete(ref(namespace, a.target));
    case "deletePod": {
      await writer.delete(ref(namespace, { ...POD, name: a.name }), a.force ? { gracePeriodSeconds: 0 } : undefined);
      await deps.awaitPodCache(a.name, (p) => p === undefined || Boolean(p.metadata?.deletionTimestamp));
      return;
    }
    case "removeFromRaft":
      return rqlite.removeNode(a.leader, a.node);
    case "transferLeadership":
      return rqlite.transferLeadership(a.from, a.to);
  }
}

function refusedStorageGrowth(a: Action, err: unknown): Applied["refused"][number] | undefined {
  if (a.type !== "patch" || a.target.kind !== "PersistentVolumeClaim" || !("spec" in a.patch)) return undefined;
  const cause = (err as Error).cause;
  if (!(cause instanceof KubeApiError) || ![403, 422].includes(cause.status)) return undefined;
  const size = (a.patch as { spec: { resources: { requests: { storage: string } } } }).spec.resources.requests.storage;
  return {
    pvc: a.target.name,
    size,
    reason: "StorageResizeRefused",
    message: `PVC ${a.target.name} cannot grow: ${cause.message}; use a StorageClass with allowVolumeExpansion, or set spec.storage.size back`,
  };
}
