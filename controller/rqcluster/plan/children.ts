// The children that never disrupt a node: both Services, the PDB, the PVCs (created, grown,
// owner references per reclaimPolicy), the operator's auth Secret, and the labels and owner of
// live Pods. Each is created when missing and restored when it drifted; a steady cluster yields
// no action.
import type { KubernetesObject, V1PersistentVolumeClaim, V1Service } from "@kubernetes/client-node";
import { compareQuantities, parseQuantity } from "../../../shared/quantity.js";
import type { Json } from "../../runtime/writer.js";
import { driftPatch, isSubset } from "../drift.js";
import {
  renderClientService,
  renderHeadlessService,
  renderNetworkPolicy,
  renderPdb,
  renderPvc,
  renderReadService,
} from "../render/children.js";
import { isTerminating, podName, roleOf, type Facts } from "./facts.js";
import { unplacedJoiners } from "./scheduling.js";
import type { Action, ObjectRef, Observed, Wait } from "./types.js";
import { NETWORK_POLICY, PDB, POD, PVC, SECRET, SERVICE } from "../ports.js";
import { withDescriptiveLabels } from "../render/pod.js";
import { LABEL_VERSION, RQLITE_CONTAINER } from "../../../shared/names.js";

const withoutVersion = (labels: Record<string, string> = {}) =>
  Object.fromEntries(Object.entries(labels).filter(([k]) => k !== LABEL_VERSION));

const byName = <T extends KubernetesObject>(list: T[], name: string) => list.find((o) => o.metadata?.name === name);
const refTo = (type: { apiVersion: string; kind: string }, name: string): ObjectRef => ({ ...type, name });

function created(object: KubernetesObject): Action {
  return { type: "create", object, reason: "Created", message: `created ${object.kind} ${object.metadata!.name}` };
}

/** Creates a child that is missing, or restores one that drifted. */
function ensure(
  type: { apiVersion: string; kind: string },
  desired: KubernetesObject,
  live: KubernetesObject | undefined,
  exact: string[][] = [],
): Action[] {
  if (!live) return [created(desired)];
  const { apiVersion: _a, kind: _k, ...wanted } = desired as Json;
  const patch = driftPatch(wanted, live as Json, exact);
  if (!patch) return [];
  const name = desired.metadata!.name!;
  return [
    {
      type: "patch",
      target: refTo(type, name),
      patch,
      reason: "Updated",
      message: `restored ${desired.kind} ${name} to its spec`,
    },
  ];
}

export function planServices(o: Observed): Action[] {
  const c = o.cluster;
  const selectorExact = [["spec", "selector"]];
  return [renderHeadlessService(c), renderClientService(c), renderReadService(c)].flatMap((svc) => {
    const live = byName(o.services, svc.metadata!.name!);
    return ensure(SERVICE, live ? withDroppedServiceFields(svc, live) : svc, live, selectorExact);
  });
}

/**
 * Load balancer fields the spec no longer asks for go as null: a merge patch leaves out what it
 * does not name, and the API server refuses source ranges on a type other than LoadBalancer. The
 * API server defaults externalTrafficPolicy on NodePort and LoadBalancer Services, so it goes
 * only when the type no longer takes it.
 */
function withDroppedServiceFields(desired: V1Service, live: V1Service): KubernetesObject {
  const want = desired.spec!;
  const dropped: Json = {};
  if (live.spec?.loadBalancerSourceRanges?.length && !want.loadBalancerSourceRanges)
    dropped.loadBalancerSourceRanges = null;
  if (live.spec?.externalTrafficPolicy && !want.externalTrafficPolicy && want.type === "ClusterIP")
    dropped.externalTrafficPolicy = null;
  return Object.keys(dropped).length ? ({ ...desired, spec: { ...want, ...dropped } } as KubernetesObject) : desired;
}

/**
 * The PDB follows the voters that count now: the largest of the Raft configuration, the voter
 * Pods that run or ran, and the desired voters. Not a desired voter that cannot be healthy yet,
 * held back until a roll to rqlite 10 ends (`held`) or placed by no Kubernetes node until a roll
 * relaxes the affinity: it would raise minAvailable above the voters that can be healthy, and the
 * roll that would bring it could never evict a Pod.
 */
export function planPdb(o: Observed, f: Facts, held: ReadonlySet<string>): Action[] {
  const c = o.cluster;
  const unplaced = unplacedJoiners(o);
  const counts = (name: string) => !held.has(name) && !unplaced.has(name);
  const voterPods = o.pods.filter((p) => roleOf(p) === "voter" && !isTerminating(p) && counts(podName(p))).length;
  const desiredVoters = f.desired.filter((m) => m.role === "voter" && counts(m.name)).length;
  const voters = Math.max(f.raftVoters?.length ?? 0, voterPods, desiredVoters);
  const pdb = renderPdb(c, voters);
  const live = byName(o.pdbs, c.pdbName);
  if (pdb) {
    // minAvailable replaced maxUnavailable: the old field must go, as the API allows only one.
    const withNull =
      live?.spec?.maxUnavailable !== undefined ? { ...pdb, spec: { ...pdb.spec, maxUnavailable: null } } : pdb;
    return ensure(PDB, withNull, live, [["spec", "selector", "matchLabels"]]);
  }
  if (!live) return [];
  return [
    {
      type: "delete",
      target: refTo(PDB, c.pdbName),
      reason: "Deleted",
      message: `deleted PodDisruptionBudget ${c.pdbName} (podDisruptionBudget.maxUnavailable=0)`,
    },
  ];
}

/** The NetworkPolicy while spec.network.policy is on; deleted when it is turned off. */
export function planNetworkPolicy(o: Observed): Action[] {
  const c = o.cluster;
  const policy = renderNetworkPolicy(c, o.operatorNamespace);
  const live = byName(o.networkPolicies, c.name);
  if (policy) return ensure(NETWORK_POLICY, policy, live, [["spec"]]);
  if (!live) return [];
  return [
    {
      type: "delete",
      target: refTo(NETWORK_POLICY, c.name),
      reason: "Deleted",
      message: `deleted NetworkPolicy ${c.name} (network.policy=false)`,
    },
  ];
}

/** PVCs for every desired node; storage may grow in place; owner references follow reclaimPolicy. */
export function planPvcs(o: Observed, f: Facts): Action[] {
  const actions: Action[] = [];
  for (const m of f.desired) {
    if (o.conflicts.includes(m.name)) continue;
    const desired = renderPvc(o.cluster, m, f.bootstrapExpect);
    const live = byName(o.pvcs, m.name);
    if (!live) {
      actions.push(created(desired));
      continue;
    }
    if (live.metadata?.deletionTimestamp) continue;
    actions.push(...pvcDrift(desired, live, o.refusedGrowth?.get(m.name)?.size));
  }
  return actions;
}

function pvcDrift(desired: V1PersistentVolumeClaim, live: V1PersistentVolumeClaim, refusedSize?: string): Action[] {
  const name = live.metadata!.name!;
  const meta = {
    labels: desired.metadata!.labels,
    annotations: desired.metadata!.annotations,
    ownerReferences: desired.metadata!.ownerReferences,
  };
  const actions: Action[] = [];
  // The API server drops an empty list, so "no owner references" reads back as absent.
  const liveMeta = {
    labels: live.metadata?.labels,
    annotations: live.metadata?.annotations,
    ownerReferences: live.metadata?.ownerReferences ?? [],
  };
  if (!isSubset(meta, liveMeta)) {
    actions.push({
      type: "patch",
      target: refTo(PVC, name),
      patch: { metadata: meta },
      reason: "Updated",
      message: `restored labels, annotations and owner references of PVC ${name}`,
    });
  }
  const want = desired.spec!.resources!.requests!.storage!;
  const have = live.spec?.resources?.requests?.storage;
  if (have !== undefined && isLarger(want, have) && refusedSize !== want) {
    actions.push({
      type: "patch",
      target: refTo(PVC, name),
      patch: { spec: { resources: { requests: { storage: want } } } },
      reason: "StorageExpanded",
      message: `requested ${want} for PVC ${name} (was ${have})`,
    });
  }
  return actions;
}

/** True when quantity a is larger than b; unparsable quantities never count as growth. */
function isLarger(a: string, b: string): boolean {
  const [qa, qb] = [parseQuantity(a), parseQuantity(b)];
  return qa !== undefined && qb !== undefined && compareQuantities(qa, qb) > 0;
}

/**
 * Labels and owner of live Pods; their spec is replaced by rolling, never patched. A Pod's
 * version label is that of the image it runs, which mid-roll is not yet the spec's.
 */
export function planPodMetadata(o: Observed, f: Facts): Action[] {
  return o.pods.flatMap((live): Action[] => {
    const want = f.rendered.get(podName(live));
    if (!want || isTerminating(live)) return [];
    const running = live.spec?.containers.find((ct) => ct.name === RQLITE_CONTAINER)?.image;
    const labels = withDescriptiveLabels(o.cluster, withoutVersion(want.metadata!.labels), running);
    const meta = { labels, ownerReferences: want.metadata!.ownerReferences };
    if (isSubset(meta, live.metadata)) return [];
    return [
      {
        type: "patch",
        target: refTo(POD, podName(live)),
        patch: { metadata: meta },
        reason: "Updated",
        message: `restored labels and owner of Pod ${podName(live)}`,
      },
    ];
  });
}

export function planAuthSecret(o: Observed): Action[] {
  const s = o.authSecret;
  if (!s || s.current) return [];
  if (!s.exists) return [created(s.desired)];
  const name = s.desired.metadata!.name!;
  return [
    {
      type: "patch",
      target: refTo(SECRET, name),
      patch: { data: s.desired.data },
      reason: "Updated",
      message: `updated Secret ${name}: users from ${o.cluster.spec.auth?.secretName} plus the operator's own`,
    },
  ];
}

/** PVCs of nodes that scaled away go once their Pod is gone, when scaleDownPolicy says Delete. */
export function planReleasedPvcs(o: Observed, f: Facts): Action[] {
  if (o.cluster.spec.storage.scaleDownPolicy !== "Delete") return [];
  // A node still in the Raft configuration may yet come back with its data: its volume stays
  // until the leader (or, with no leader, the last recorded membership) no longer lists it.
  const members = new Set(o.raft ? o.raft.members.map((m) => m.id) : (o.lastMembers ?? []));
  return o.pvcs
    .filter((pvc) => {
      const name = pvc.metadata!.name!;
      return !f.desiredNames.has(name) && !f.pods.has(name) && !members.has(name) && !pvc.metadata?.deletionTimestamp;
    })
    .map((pvc) => ({
      type: "delete" as const,
      target: refTo(PVC, pvc.metadata!.name!),
      reason: "PVCDeleted",
      message: `deleted PVC ${pvc.metadata!.name} of removed node (storage.scaleDownPolicy=Delete)`,
    }));
}

/** Growth the API server refused for the size still asked for: reported, not retried. */
export function refusedGrowthWaits(o: Observed, f: Facts): Wait[] {
  return f.desired.flatMap((m) => {
    const refused = o.refusedGrowth?.get(m.name);
    const want = o.cluster.spec.storage.size;
    return refused && String(want) === refused.size
      ? [{ reason: "StorageResizeRefused", message: refused.message, warning: false }]
      : [];
  });
}
