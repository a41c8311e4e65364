// What the reconciler needs from the outside world, as narrow interfaces: the informer caches
// it reads and the API writes it makes. main.ts wires real clients; the logic stays testable.
import type { KubernetesObject, V1PersistentVolumeClaim, V1Pod, V1PodDisruptionBudget, V1Service } from "@kubernetes/client-node";

export type Json = Record<string, unknown>;

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
}

export interface Children {
  pods: V1Pod[];
  pvcs: V1PersistentVolumeClaim[];
  services: V1Service[];
  pdbs: V1PodDisruptionBudget[];
}

export interface Writer {
  create(obj: KubernetesObject): Promise<void>;
  /** RFC 7396 merge patch. */
  patch(ref: ObjectRef, patch: Json): Promise<void>;
  /** gracePeriodSeconds 0 force-deletes a Pod whose kubelet can no longer confirm anything. */
  delete(ref: ObjectRef, opts?: { gracePeriodSeconds?: number }): Promise<void>;
  patchStatus(ref: ObjectRef, status: Json): Promise<void>;
  /** A Secret's data, decoded, or undefined when it does not exist. */
  readSecret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** A ConfigMap's data, or undefined when it does not exist. */
  readConfigMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

export interface EventSink {
  normal(reason: string, message: string): void;
  warning(reason: string, message: string): void;
}

export interface TypeMeta {
  apiVersion: string;
  kind: string;
}

export const POD: TypeMeta = { apiVersion: "v1", kind: "Pod" };
export const PVC: TypeMeta = { apiVersion: "v1", kind: "PersistentVolumeClaim" };
export const SERVICE: TypeMeta = { apiVersion: "v1", kind: "Service" };
export const SECRET: TypeMeta = { apiVersion: "v1", kind: "Secret" };
export const PDB: TypeMeta = { apiVersion: "policy/v1", kind: "PodDisruptionBudget" };

/** Listed objects come without apiVersion and kind, so the caller names the type. */
export function refOf(type: TypeMeta, obj: KubernetesObject): ObjectRef {
  return { ...type, metadata: { name: obj.metadata!.name!, namespace: obj.metadata!.namespace! } };
}
