// Every name and label the operator derives from an RqCluster, in one place, so the webhook's
// length checks and the controller's children can never disagree.
import { parseImageReference } from "./image.js";
import { labelValue } from "./k8s-names.js";

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
/** The volume rqlite's HTTPS certificate is mounted from; the operator reads its Secret too. */
export const HTTP_TLS_VOLUME = "tls-http";

export const HTTP_PORT = 4001;
export const RAFT_PORT = 4002;

export const MAX_REPLICAS = 9;
export const MAX_READ_REPLICAS = 32;

export const LABEL_NAME = "app.kubernetes.io/name";
export const LABEL_INSTANCE = "app.kubernetes.io/instance";
export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
export const LABEL_COMPONENT = "app.kubernetes.io/component";
export const LABEL_PART_OF = "app.kubernetes.io/part-of";
export const LABEL_VERSION = "app.kubernetes.io/version";
export const LABEL_CLUSTER = `${GROUP}/cluster`;
export const LABEL_ROLE = `${GROUP}/role`;
export const APP_NAME = "rqlite";
export const MANAGER_NAME = "rqlite-operator";
/** app.kubernetes.io/component of every child: rqlite is the database tier of whatever uses it. */
export const COMPONENT_NAME = "database";

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

/** One node of a cluster, as its Pod, PVC and rqlite node id name it. */
export interface MemberName {
  name: string;
  ordinal: number;
  role: NodeRole;
}

/** The node a Pod or PVC name stands for (nodeName's inverse), or undefined for a name the cluster does not own. */
export function parseMemberName(cluster: string, name: string): MemberName | undefined {
  const m = /^(ro-)?(0|[1-9][0-9]*)$/.exec(name.startsWith(`${cluster}-`) ? name.slice(cluster.length + 1) : "");
  if (!m) return undefined;
  return { name, ordinal: Number(m[2]), role: m[1] ? "read-only" : "voter" };
}

/** Headless Service that gives every node a stable DNS name and feeds rqlite's DNS discovery. */
export function headlessServiceName(cluster: string): string {
  return `${cluster}-internal`;
}

export function clientServiceName(cluster: string): string {
  return cluster;
}

/** Service over the read replicas (over every node while there are none), for reads only. */
export function readServiceName(cluster: string): string {
  return `${cluster}-ro`;
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

/**
 * The operator's own copy of the ca.crt of each tls.http Secret in use, so that a CA Secret deleted
 * mid-life still verifies rqlite after the operator restarts (see controller/access/caCopy.ts).
 */
export function operatorCaSecretName(cluster: string): string {
  return `${cluster}-operator-ca`;
}

export type ChildKind = "Pod" | "PersistentVolumeClaim" | "Service" | "PodDisruptionBudget" | "Secret";

/** Every object the operator derives from a cluster, by kind (names are unique per kind and namespace). */
export function childNames(cluster: string): Record<ChildKind, string[]> {
  const nodes = [
    ...Array.from({ length: MAX_REPLICAS }, (_, i) => voterName(cluster, i)),
    ...Array.from({ length: MAX_READ_REPLICAS }, (_, i) => readReplicaName(cluster, i)),
  ];
  return {
    Pod: nodes,
    PersistentVolumeClaim: nodes,
    Service: [clientServiceName(cluster), headlessServiceName(cluster), readServiceName(cluster)],
    PodDisruptionBudget: [podDisruptionBudgetName(cluster)],
    Secret: [operatorAuthSecretName(cluster), operatorCaSecretName(cluster)],
  };
}

/** Why a cluster name would share child names with another cluster of the same namespace. */
export interface NameClash {
  /** The ending that causes it, e.g. `-ro`. */
  suffix: string;
  /** The other cluster's name. */
  other: string;
  /** This cluster's children that take the other's names. */
  ours: string;
  /** What they are to the other cluster. */
  theirs: string;
}

// The endings, derived from the name functions above so they follow any change there: a voter
// `<x>-ro-<n>` is the read replica `<n>` of `<x>`, a client Service `<x>-ro` is the read Service
// of `<x>`, and a client Service `<x>-internal` is the headless Service of `<x>`. Refusing the
// ending `-ro` refuses both of the former. test/unit/shared/names.test.ts checks that no other pair
// of names clashes.
const READ_REPLICA_INFIX = readReplicaName("", 0).slice(0, -voterName("", 0).length);
const HEADLESS_SUFFIX = headlessServiceName("").slice(clientServiceName("").length);

/**
 * The clash a cluster named `name` would have with another cluster in its namespace, or
 * undefined. Only one of each clashing pair has the ending, so refusing the ending refuses
 * every clash without looking at the other clusters.
 */
export function nameClash(name: string): NameClash | undefined {
  const other = (suffix: string) =>
    name.length > suffix.length && name.endsWith(suffix) ? name.slice(0, -suffix.length) : undefined;
  const ro = other(READ_REPLICA_INFIX);
  if (ro !== undefined) {
    return {
      suffix: READ_REPLICA_INFIX,
      other: ro,
      ours: `voter Pods and PVCs (${voterName(name, 0)}, ${voterName(name, 1)}, ...) and client Service (${clientServiceName(name)})`,
      theirs: "read replicas' Pods and PVCs and read Service",
    };
  }
  const internal = other(HEADLESS_SUFFIX);
  if (internal !== undefined) {
    return {
      suffix: HEADLESS_SUFFIX,
      other: internal,
      ours: `client Service (${clientServiceName(name)})`,
      theirs: "headless Service",
    };
  }
  return undefined;
}

/** The longest name each child kind derives from the cluster name, given the replica limits. */
function longestDerivedNames(cluster: string): string[] {
  return [
    voterName(cluster, MAX_REPLICAS - 1),
    readReplicaName(cluster, MAX_READ_REPLICAS - 1),
    headlessServiceName(cluster),
    clientServiceName(cluster),
    readServiceName(cluster),
    podDisruptionBudgetName(cluster),
  ];
}

export const DNS_LABEL_MAX_LENGTH = 63;

/** Longest cluster name whose every derived name still fits a DNS label. */
export const MAX_CLUSTER_NAME_LENGTH = DNS_LABEL_MAX_LENGTH - Math.max(...longestDerivedNames("").map((n) => n.length));

/**
 * The labels that select a cluster's children (Services, the PDB, the NetworkPolicy, Pod
 * anti-affinity). Fixed since the first release: a selector with a label older Pods lack would
 * leave them unselected until they roll.
 */
export function selectorLabels(cluster: string): Record<string, string> {
  return {
    [LABEL_NAME]: APP_NAME,
    [LABEL_INSTANCE]: cluster,
    [LABEL_MANAGED_BY]: MANAGER_NAME,
    [LABEL_CLUSTER]: cluster,
  };
}

/**
 * The labels Kubernetes recommends beyond the selector's: they describe, never select, so they may
 * change in place (the version on every upgrade) without touching a selector or rolling a Pod.
 */
export const DESCRIPTIVE_LABELS: readonly string[] = [LABEL_COMPONENT, LABEL_PART_OF, LABEL_VERSION];

/**
 * app.kubernetes.io/version for an image: its tag when that is a valid label value (a tag may be
 * 128 characters long and end in `_` or `.`, a label value neither); none for a digest alone.
 */
export function versionLabel(image: string | undefined): Record<string, string> {
  const tag = image === undefined ? undefined : parseImageReference(image)?.tag;
  return tag !== undefined && labelValue(tag).length === 0 ? { [LABEL_VERSION]: tag } : {};
}

/**
 * Every label of every child: the selector's, and the recommended ones that describe it.
 * `partOf` is the RqCluster's own app.kubernetes.io/part-of, when it has one: the application
 * the database belongs to is the user's to say; rqlite otherwise.
 */
export function clusterLabels(cluster: string, image: string, partOf?: string): Record<string, string> {
  return {
    ...selectorLabels(cluster),
    [LABEL_COMPONENT]: COMPONENT_NAME,
    [LABEL_PART_OF]: partOf ?? APP_NAME,
    ...versionLabel(image),
  };
}

/** Labels that select a node's Pod (and PVC) by role. */
export function nodeLabels(cluster: string, role: NodeRole): Record<string, string> {
  return { ...selectorLabels(cluster), [LABEL_ROLE]: role };
}

/** The selector published in status.selector (the scale subresource's labelSelectorPath). */
export function selectorString(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

/**
 * True for annotation keys a pod template may not set: they are the operator's own record on
 * each Pod (bootstrap-expect, spec and auth hashes).
 */
export function isOperatorOwnedAnnotation(key: string): boolean {
  return key.startsWith(`${GROUP}/`);
}

/** True for label keys a pod template may not set because the operator's selectors use them. */
export function isOperatorOwnedLabel(key: string): boolean {
  return key.startsWith(`${GROUP}/`) || key === LABEL_INSTANCE || key === LABEL_NAME || key === LABEL_MANAGED_BY;
}

/** status.selector: the scale subresource counts voters, as spec.replicas does. */
export function scaleSelector(cluster: string): string {
  return selectorString(nodeLabels(cluster, "voter"));
}
