// What one RqCluster reconcile reads from the caches, and the kinds it writes.
import type {
  V1NetworkPolicy,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodDisruptionBudget,
  V1Service,
} from "@kubernetes/client-node";
import type { TypeMeta } from "../runtime/writer.js";

export interface Children {
  pods: V1Pod[];
  pvcs: V1PersistentVolumeClaim[];
  services: V1Service[];
  pdbs: V1PodDisruptionBudget[];
  networkPolicies: V1NetworkPolicy[];
}

export const POD: TypeMeta = { apiVersion: "v1", kind: "Pod" };
export const PVC: TypeMeta = { apiVersion: "v1", kind: "PersistentVolumeClaim" };
export const SERVICE: TypeMeta = { apiVersion: "v1", kind: "Service" };
export const SECRET: TypeMeta = { apiVersion: "v1", kind: "Secret" };
export const PDB: TypeMeta = { apiVersion: "policy/v1", kind: "PodDisruptionBudget" };
export const NETWORK_POLICY: TypeMeta = { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy" };
