// The kinds the operator caches, for the manager's one shared cache per kind.
import { API_VERSION, KIND, PLURAL } from "../shared/names.js";
import { BACKUP_KIND, BACKUP_PLURAL } from "../shared/backup-names.js";
import { SCHEDULED_BACKUP_KIND, SCHEDULED_BACKUP_PLURAL } from "../shared/scheduled-backup-schema.js";
import type { Kind } from "./runtime/manager.js";

export const RQCLUSTER: Kind = { apiVersion: API_VERSION, kind: KIND, resource: PLURAL };
export const RQBACKUP: Kind = { apiVersion: API_VERSION, kind: BACKUP_KIND, resource: BACKUP_PLURAL };
export const POD: Kind = { apiVersion: "v1", kind: "Pod", resource: "pods" };
export const PVC: Kind = { apiVersion: "v1", kind: "PersistentVolumeClaim", resource: "persistentvolumeclaims" };
export const SERVICE: Kind = { apiVersion: "v1", kind: "Service", resource: "services" };
export const PDB: Kind = { apiVersion: "policy/v1", kind: "PodDisruptionBudget", resource: "poddisruptionbudgets" };
export const NETWORK_POLICY: Kind = {
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  resource: "networkpolicies",
};
export const NODE: Kind = { apiVersion: "v1", kind: "Node", resource: "nodes", clusterScoped: true };
export const JOB: Kind = { apiVersion: "batch/v1", kind: "Job", resource: "jobs" };
export const RQSCHEDULEDBACKUP: Kind = {
  apiVersion: API_VERSION,
  kind: SCHEDULED_BACKUP_KIND,
  resource: SCHEDULED_BACKUP_PLURAL,
};
