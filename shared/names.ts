// Every name and label the operator derives from an RqCluster, in one place, so the webhook's
// length checks and the controller's children can never disagree.

export const GROUP = "rqlite.io";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = "RqCluster";
export const LIST_KIND = "RqClusterList";
export const PLURAL = "rqclusters";
export const SINGULAR = "rqcluster";
export const SHORT_NAME = "rqc";
export const CATEGORY = "rqlite";
export const CRD_NAME = `${PLURAL}.${GROUP}`;

export const FINALIZER = `${GROUP}/finalizer`;
/** A ConfigMap carrying this label holds a pod template and is validated at admission. */
export const POD_TEMPLATE_LABEL = `${GROUP}/pod-template`;
export const DEFAULT_POD_TEMPLATE_KEY = "pod-template.json";

/** The container and volume the operator generates and owns in every node's Pod. */
export const RQLITE_CONTAINER = "rqlite";
export const DATA_VOLUME = "data";

export const HTTP_PORT = 4001;
export const RAFT_PORT = 4002;

export const MAX_REPLICAS = 9;
export const MAX_READ_REPLICAS = 32;

export const LABEL_NAME = "app.kubernetes.io/name";
export const LABEL_INSTANCE = "app.kubernetes.io/instance";
export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
export const LABEL_CLUSTER = `${GROUP}/cluster`;
export const LABEL_ROLE = `${GROUP}/role`;
export const APP_NAME = "rqlite";
export const MANAGER_NAME = "rqlite-operator";

export type NodeRole = "voter" | "read-only";

/** Pod and PVC name of voting node `ordinal`. */
export function voterName(cluster: string, ordinal: number): string {
  return `${cluster}-${ordinal}`;
}

/** Pod and PVC name of read-only (non-voting) node `ordinal`. */
export function readReplicaName(cluster: string, ordinal: number): string {
  return `${cluster}-ro-${ordinal}`;
}

export function nodeName(cluster: string, role: NodeRole, ordinal: number): string {
  return role === "voter" ? voterName(cluster, ordinal) : readReplicaName(cluster, ordinal);
}

/** Headless Service that gives every node a stable DNS name and feeds rqlite's DNS discovery. */
export function headlessServiceName(cluster: string): string {
  return `${cluster}-internal`;
}

export function clientServiceName(cluster: string): string {
  return cluster;
}

export function podDisruptionBudgetName(cluster: string): string {
  return cluster;
}

/** The rqlite user the operator signs in as, and joining nodes with -join-as. */
export const OPERATOR_RQLITE_USER = "rqlite-operator";

/** The operator's Secret with rqlite's -auth users: the user's plus its own system user. */
export function operatorAuthSecretName(cluster: string): string {
  return `${cluster}-operator-auth`;
}

/** The longest name each child kind derives from the cluster name, given the replica limits. */
function longestDerivedNames(cluster: string): string[] {
  return [
    voterName(cluster, MAX_REPLICAS - 1),
    readReplicaName(cluster, MAX_READ_REPLICAS - 1),
    headlessServiceName(cluster),
    clientServiceName(cluster),
    podDisruptionBudgetName(cluster),
  ];
}

export const DNS_LABEL_MAX_LENGTH = 63;

/** Longest cluster name whose every derived name still fits a DNS label. */
export const MAX_CLUSTER_NAME_LENGTH = DNS_LABEL_MAX_LENGTH - Math.max(...longestDerivedNames("").map((n) => n.length));

/** Labels on every child of the cluster; selects them all. */
export function clusterLabels(cluster: string): Record<string, string> {
  return {
    [LABEL_NAME]: APP_NAME,
    [LABEL_INSTANCE]: cluster,
    [LABEL_MANAGED_BY]: MANAGER_NAME,
    [LABEL_CLUSTER]: cluster,
  };
}

/** Labels on a node's Pod and PVC. */
export function nodeLabels(cluster: string, role: NodeRole): Record<string, string> {
  return { ...clusterLabels(cluster), [LABEL_ROLE]: role };
}

/** The selector published in status.selector (the scale subresource's labelSelectorPath). */
export function selectorString(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

/** True for label keys a pod template may not set because the operator's selectors use them. */
export function isOperatorOwnedLabel(key: string): boolean {
  return key.startsWith(`${GROUP}/`) || key === LABEL_INSTANCE || key === LABEL_NAME || key === LABEL_MANAGED_BY;
}

/** status.selector: the scale subresource counts voters, as spec.replicas does. */
export function scaleSelector(cluster: string): string {
  return selectorString(nodeLabels(cluster, "voter"));
}
