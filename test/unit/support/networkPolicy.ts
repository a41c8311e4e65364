// What a NetworkPolicy admits, by the API's rules, for checking rendered policies without a
// network plugin: the policy selects Pods in its namespace; a connection to one of them is
// admitted when some ingress rule has a matching peer (or none: any) and a matching port (or
// none: any). A peer with podSelector alone means Pods of the policy's namespace; with
// namespaceSelector alone, every Pod of the selected namespaces; with both, the selected Pods
// of the selected namespaces.
import type { V1LabelSelector, V1NetworkPolicy } from "@kubernetes/client-node";

export interface Source {
  namespace: string;
  namespaceLabels: Record<string, string>;
  podLabels: Record<string, string>;
}

export function selects(selector: V1LabelSelector, labels: Record<string, string>): boolean {
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  return (
    byLabels &&
    (selector.matchExpressions ?? []).every((e) => {
      const has = Object.hasOwn(labels, e.key);
      switch (e.operator) {
        case "In":
          return has && (e.values ?? []).includes(labels[e.key]!);
        case "NotIn":
          return !has || !(e.values ?? []).includes(labels[e.key]!);
        case "Exists":
          return has;
        case "DoesNotExist":
          return !has;
        default:
          throw new Error(`unknown selector operator ${e.operator}`);
      }
    })
  );
}

interface Peer {
  podSelector?: V1LabelSelector;
  namespaceSelector?: V1LabelSelector;
}

function peerMatches(peer: Peer, policyNamespace: string, from: Source): boolean {
  if (!peer.podSelector && !peer.namespaceSelector) throw new Error("a peer needs a selector (the API refuses it)");
  const inNamespace = peer.namespaceSelector
    ? selects(peer.namespaceSelector, from.namespaceLabels)
    : from.namespace === policyNamespace;
  return inNamespace && (!peer.podSelector || selects(peer.podSelector, from.podLabels));
}

/** Whether `policy` admits a TCP connection from `from` to `port` of a Pod it selects. */
export function admits(policy: V1NetworkPolicy, from: Source, port: number): boolean {
  const rules = (policy.spec?.ingress ?? []) as Array<{ from?: Peer[]; ports?: Array<{ port?: number | string }> }>;
  return rules.some(
    (r) =>
      (r.from === undefined ||
        r.from.length === 0 ||
        r.from.some((p) => peerMatches(p, policy.metadata!.namespace!, from))) &&
      (r.ports === undefined || r.ports.length === 0 || r.ports.some((p) => p.port === port)),
  );
}
