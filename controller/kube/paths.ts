// REST paths of the kinds the controller touches.
import { KIND, PLURAL } from "../../shared/names.js";

const plurals: Record<string, string> = {
  Pod: "pods",
  PersistentVolumeClaim: "persistentvolumeclaims",
  Service: "services",
  ConfigMap: "configmaps",
  Secret: "secrets",
  Event: "events",
  PodDisruptionBudget: "poddisruptionbudgets",
  Lease: "leases",
  [KIND]: PLURAL,
};

export function resourcePath(apiVersion: string, kind: string, namespace?: string, name?: string): string {
  const plural = plurals[kind];
  if (!plural) throw new Error(`no REST path known for kind ${kind} (${apiVersion})`);
  const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return `${base}${namespace ? `/namespaces/${namespace}` : ""}/${plural}${name ? `/${name}` : ""}`;
}
