// An RqCluster and the children the operator made for it, read the way kubectl reads them.
import type { CoreV1Event, V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import { API_VERSION, childNames, GROUP, KIND, LABEL_CLUSTER, PLURAL, SHORT_NAME } from "../shared/names.js";
import { objectPath } from "../controller/runtime/paths.js";
import type { RqCluster } from "../shared/types.generated.js";
import { CliError } from "./errors.js";
import type { Kube } from "./kube.js";

interface List<T> {
  items: T[];
}

export const clusterPath = (namespace: string, name: string) =>
  objectPath({ apiVersion: API_VERSION, resource: PLURAL, namespace, name });

/** The RqCluster, or a one-line error naming it and how to list the ones that exist. */
export async function getCluster(kube: Kube, name: string): Promise<RqCluster> {
  const what = `get RqCluster ${kube.namespace}/${name}`;
  const rq = await kube.find<RqCluster>(what, { method: "GET", path: clusterPath(kube.namespace, name) });
  if (!rq)
    throw new CliError(
      `RqCluster ${name} not found in namespace ${kube.namespace}; list them with kubectl get ${SHORT_NAME} -n ${kube.namespace}, or pass -n`,
    );
  return rq;
}

const selector = (cluster: string) => ({ labelSelector: `${LABEL_CLUSTER}=${cluster}` });

/**
 * The cluster's Pods, voters first, each group by ordinal: those with its labels that the operator
 * made for it (controller owner reference to this RqCluster's uid). Anyone who may create Pods in
 * the namespace can copy the labels, and the plugin sends those Pods SQL and reads their answers.
 */
export async function clusterPods(kube: Kube, rq: RqCluster): Promise<V1Pod[]> {
  const cluster = rq.metadata!.name!;
  const list = await kube.request<List<V1Pod>>(`list the Pods of RqCluster ${kube.namespace}/${cluster}`, {
    method: "GET",
    path: objectPath({ apiVersion: "v1", resource: "pods", namespace: kube.namespace }),
    query: selector(cluster),
  });
  return list.items
    .filter((p) => isControlledBy(p, rq))
    .sort((a, b) => byNodeName(a.metadata!.name!, b.metadata!.name!));
}

const isControlledBy = (pod: V1Pod, rq: RqCluster): boolean =>
  (pod.metadata?.ownerReferences ?? []).some(
    (r) =>
      r.controller === true &&
      r.kind === KIND &&
      r.apiVersion.split("/")[0] === GROUP &&
      r.uid === rq.metadata?.uid &&
      r.name === rq.metadata?.name,
  );

export async function clusterPvcs(kube: Kube, cluster: string): Promise<V1PersistentVolumeClaim[]> {
  const list = await kube.request<List<V1PersistentVolumeClaim>>(
    `list the PVCs of RqCluster ${kube.namespace}/${cluster}`,
    {
      method: "GET",
      path: objectPath({ apiVersion: "v1", resource: "persistentvolumeclaims", namespace: kube.namespace }),
      query: selector(cluster),
    },
  );
  return list.items.sort((a, b) => byNodeName(a.metadata!.name!, b.metadata!.name!));
}

/** Events about the cluster and its children (by the names the operator gives them), oldest first. */
export async function clusterEvents(kube: Kube, cluster: string): Promise<CoreV1Event[]> {
  const list = await kube.request<List<CoreV1Event>>(`list the Events of namespace ${kube.namespace}`, {
    method: "GET",
    path: objectPath({ apiVersion: "v1", resource: "events", namespace: kube.namespace }),
  });
  const children = childNames(cluster) as Record<string, string[] | undefined>;
  const ours = ({ kind = "", name = "" }: CoreV1Event["involvedObject"]) =>
    (kind === KIND && name === cluster) || (children[kind]?.includes(name) ?? false);
  return list.items.filter((e) => ours(e.involvedObject)).sort((a, b) => eventTime(a) - eventTime(b));
}

export const eventTime = (e: CoreV1Event): number =>
  new Date(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? 0).getTime();

export const isPodReady = (p: V1Pod): boolean =>
  p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

/** demo-2 before demo-10, voters (demo-N) before read replicas (demo-ro-N). */
function byNodeName(a: string, b: string): number {
  const key = (n: string) => [n.includes("-ro-") ? 1 : 0, Number(/(\d+)$/.exec(n)?.[1] ?? 0)] as const;
  const [ka, kb] = [key(a), key(b)];
  return ka[0] - kb[0] || ka[1] - kb[1] || a.localeCompare(b);
}

/** An RFC 7386 merge patch of the RqCluster (custom resources take no strategic merge). */
export async function patchCluster(kube: Kube, name: string, patch: unknown): Promise<RqCluster> {
  await getCluster(kube, name);
  return kube.request<RqCluster>(`patch RqCluster ${kube.namespace}/${name}`, {
    method: "PATCH",
    path: clusterPath(kube.namespace, name),
    contentType: "application/merge-patch+json",
    body: patch,
  });
}
