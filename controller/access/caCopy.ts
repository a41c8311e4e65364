// The TLS CAs the operator trusts, kept where a restart does not lose them. rqlite's HTTPS API is
// verified with the ca.crt of the tls.http Secret each Pod mounts. When that Secret is deleted or
// loses ca.crt mid-life (a rotation gone wrong, a person), the nodes keep serving the certificate
// they mounted, so the CA read last still verifies them. Memory alone loses it on a restart or a
// Lease hand-over, after which no Raft state could be read and lost nodes would wait for the
// Secret; so the operator keeps a copy in a Secret of its own, `<cluster>-operator-ca`, owned by
// the RqCluster (deleted with it), one key per source Secret.
//
// Why a Secret of its own and not status: status is meant to be rebuilt from observation (and is
// dropped by backup tools that restore objects), while this is state no observation can rebuild;
// a Secret keeps trust material beside the Secrets it came from, under the RBAC that guards them,
// in the cluster's own namespace. Only a copy this cluster owns is trusted: a Secret of that name
// made by someone else must not become a trust root.
import type { V1Secret } from "@kubernetes/client-node";
import { operatorCaSecretName } from "../../shared/names.js";
import type { DataObject } from "../runtime/writer.js";
import type { ClusterIdentity } from "./clusterView.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** The CAs the copy holds, by source Secret name; nothing from a Secret this cluster does not own. */
export function keptCas(c: ClusterIdentity, live: DataObject | undefined): Map<string, string> {
  if (!live || !live.owners.includes(c.uid)) return new Map();
  return new Map(Object.entries(live.data).filter(([, ca]) => ca.length > 0));
}

/**
 * What the copy must hold (`cas`: source Secret name -> ca.crt in use), and whether the live one
 * already does. Undefined when there is nothing to keep, or when the name is taken by a Secret
 * this cluster does not own (left alone).
 */
/** The copy as it should be, whether the live one exists and matches, and the keys it drops. */
export interface CaCopy {
  desired: V1Secret;
  exists: boolean;
  current: boolean;
  dropped: string[];
}

export function caCopyOf(
  c: ClusterIdentity,
  cas: ReadonlyMap<string, string>,
  live: DataObject | undefined,
): CaCopy | undefined {
  if (cas.size === 0) return undefined;
  if (live && !live.owners.includes(c.uid)) return undefined;
  const data = Object.fromEntries([...cas].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, ca]) => [k, b64(ca)]));
  const dropped = Object.keys(live?.data ?? {}).filter((k) => !cas.has(k));
  const current = live !== undefined && dropped.length === 0 && [...cas].every(([k, ca]) => live.data[k] === ca);
  return {
    desired: {
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: {
        name: operatorCaSecretName(c.name),
        namespace: c.namespace,
        labels: c.labels,
        ownerReferences: [c.ownerReference],
      },
      data,
    },
    exists: live !== undefined,
    current,
    dropped,
  };
}
