// The view of an RqCluster that every render function takes: the identity every kind shares
// (../../access/clusterView.ts), plus spec.restore once observe has resolved it.
import type { RqCluster } from "../../../shared/index.js";
import { clusterIdentity, type ClusterIdentity } from "../../access/clusterView.js";
import type { ResolvedRestore } from "../backup/render.js";

export type { DefaultedSpec } from "../../access/clusterView.js";

export interface ClusterView extends ClusterIdentity {
  /**
   * spec.restore resolved to one object (observe reads it back from the backup config Secret), so
   * the founding voters' Pods render the same on every reconcile. Unset until resolved.
   */
  restore?: ResolvedRestore;
}

/** Unresolved: backup/observe.ts adds `restore`. */
export const clusterView = (obj: RqCluster): ClusterView => clusterIdentity(obj);
