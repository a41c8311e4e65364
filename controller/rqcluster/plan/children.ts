// The children that never disrupt a node: both Services, the PDB, the PVCs (created, grown,
// owner references per reclaimPolicy), the operator's auth Secret, and the labels and owner of
// live Pods. Each is created when missing and restored when it drifted; a steady cluster yields
// no action.
import type { KubernetesObject, V1PersistentVolumeClaim, V1Service } from "@kubernetes/client-node";
import { compareQuantities, parseQuantity } from "../../../shared/quantity.js";
import type { Json } from "../../runtime/writer.js";
import { extraKeysPatch, isSubset } from "../drift.js";
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
import { LABEL_VERSION, RQLITE_CONTAINER, parseMemberName } from "../../../shared/names.js";

const withoutVersion = (labels: Record<string, string> = {}) =>
  Object.fromEntries(Object.entries(labels).filter(([k]) => k !== LABEL_VERSION));

const byName = <T extends KubernetesObject>(list: T[], name: string) => list.find((o) => o.metadata?.name === name);
const refTo = (type: { apiVersion: string; kind: string }, name: string): ObjectRef => ({ ...type, name });

function created(object: KubernetesObject): Action {
  return { type: "create", object, reason: "Created", message: `created ${object.kind} ${object.metadata!.name}` };
}

/**
 * Creates a child that is missing, or applies the operator's fields to one that drifted. Maps in
 * `exact` must match key for key: keys others added there are removed by a patch of their own.
 */
function ensure(
  type: { apiVersion: string; kind: string },
  desired: KubernetesObject,
  live: KubernetesObject | undefined,
  exact: string[][] = [],
): Action[] {
  if (!live) return [created(desired)];
  const name = desired.metadata!.name!;
  const { apiVersion: _a, kind: _k, ...wanted } = desired as Json;
  const extras = extraKeysPatch(desired as Json, live as Json, exact);
  return [
    ...(isSubset(wanted, live) ? [] : [restored(desired)]),
    ...(extras
      ? [
          {
            type: "patch" as const,
            target: refTo(type, name),
            patch: extras,
            reason: "Updated",
            message: `removed keys others added to ${desired.kind} ${name} where the operator's must match exactly`,
          },
        ]
      : []),
  ];
}

function restored(
  desired: KubernetesObject,
  message = `restored ${desired.kind} ${desired.metadata!.name} to its spec`,
): Action {
  return { type: "apply", object: desired, reason: "Updated", message };
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
  const voterPods = o.pods.filter((p) => roleOf(p) === "voter" && !isTerminating(p) && counts(podName(p))).map(podName);
  const desiredVoters = f.desired.filter((m) => m.role === "voter" && counts(m.name)).length;
  // Without the leader's view, the voters the status last recorded and every voter Pod besides:
  // a voter a drain evicted is terminating, yet still a Raft member, and one that joined after
  // the last status with members (the leader unreadable since) is a member the status lacks.
  // Either one left out lowers the budget enough for a second eviction.
  const recorded = (o.lastMembers ?? []).filter((id) => parseMemberName(c.name, id)?.role === "voter" && counts(id));
  const known = f.raftVoters?.length ?? new Set([...recorded, ...voterPods]).size;
  const voters = Math.max(known, voterPods.length, desiredVoters);
  const pdb = renderPdb(c, voters);
  const live = byName(o.pdbs, c.pdbName);
  if (pdb) {
    // minAvailable replaced maxUnavailable in an older render: the old field must go first, as
    // the API allows only one, and an apply cannot remove a field it did not set.
    const oldField: Action[] =
      live?.spec?.maxUnavailable !== undefined
        ? [
            {
              type: "patch",
              target: refTo(PDB, c.pdbName),
              patch: { spec: { maxUnavailable: null, minAvailable: pdb.spec!.minAvailable! } },
              reason: "Updated",
              message: `replaced maxUnavailable with minAvailable in PodDisruptionBudget ${c.pdbName}`,
            },
          ]
        : [];
    const settled = oldField.length > 0 ? { ...live!, spec: { ...live!.spec, maxUnavailable: undefined } } : live;
    return [...oldField, ...ensure(PDB, pdb, settled, [["spec", "selector", "matchLabels"]])];
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

/** The reason of a PVC's growth: a refusal of it is the user's to fix, not an error (see ../apply.ts). */
export const STORAGE_EXPANDED = "StorageExpanded";

/**
 * One apply of what the operator owns on a PVC: its labels, annotations and owner references,
 * and its size, grown when the spec asks for more (never shrunk: the live size stays otherwise,
 * and a size the API server refused is not asked again).
 */
function pvcDrift(desired: V1PersistentVolumeClaim, live: V1PersistentVolumeClaim, refusedSize?: string): Action[] {
  const name = live.metadata!.name!;
  const want = desired.spec!.resources!.requests!.storage!;
  const have = live.spec?.resources?.requests?.storage;
  const grows = have !== undefined && isLarger(want, have) && refusedSize !== want;
  const applied: V1PersistentVolumeClaim = {
    ...desired,
    spec: {
      ...desired.spec,
      resources: { ...desired.spec!.resources, requests: { storage: grows ? want : (have ?? want) } },
    },
  };
  const meta = {
    labels: desired.metadata!.labels,
    annotations: desired.metadata!.annotations,
    ownerReferences: desired.metadata!.ownerReferences,
  };
  // The API server drops an empty list, so "no owner references" reads back as absent.
  const liveMeta = {
    labels: live.metadata?.labels,
    annotations: live.metadata?.annotations,
    ownerReferences: live.metadata?.ownerReferences ?? [],
  };
  if (grows)
    return [
      {
        type: "apply",
        object: applied,
        reason: STORAGE_EXPANDED,
        message: `requested ${want} for PVC ${name} (was ${have})`,
      },
    ];
  if (isSubset(meta, liveMeta)) return [];
  return [restored(applied, `restored labels, annotations and owner references of PVC ${name}`)];
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
    const name = podName(live);
    const object = { ...POD, metadata: { name, namespace: o.cluster.namespace, ...meta } };
    return [restored(object, `restored labels and owner of Pod ${name}`)];
  });
}

export function planAuthSecret(o: Observed, f: Facts): Action[] {
  const s = f.auth.secret;
  if (!s || s.current) return [];
  if (!s.exists) return [created(s.desired)];
  const name = s.desired.metadata!.name!;
  return [
    restored(
      s.desired,
      `updated Secret ${name}: users from ${o.cluster.spec.auth?.secretName} plus the operator's own`,
    ),
  ];
}

/** The operator's copy of the tls.http CAs in use, kept in step with what it verifies rqlite with. */
export function planCaCopy(o: Observed): Action[] {
  const s = o.caCopy;
  if (!s || s.current) return [];
  if (!s.exists)
    return [
      {
        ...created(s.desired),
        message: `created Secret ${s.desired.metadata!.name}: a copy of the tls.http CA the operator verifies rqlite with, which outlives a restart`,
      },
    ];
  const name = s.desired.metadata!.name!;
  return [
    {
      type: "patch",
      target: refTo(SECRET, name),
      patch: { data: { ...Object.fromEntries(s.dropped.map((k) => [k, null])), ...s.desired.data } },
      reason: "Updated",
      message: `updated Secret ${name}: the tls.http CAs the operator verifies rqlite with`,
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
