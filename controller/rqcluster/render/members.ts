// Which rqlite nodes a cluster should have, and how Pod names map back to them.
import { nodeName, type NodeRole } from "../../../shared/names.js";

export interface DesiredNode {
  /** Pod, PVC and rqlite node id. */
  name: string;
  ordinal: number;
  role: NodeRole;
}

export function desiredMembers(cluster: string, replicas: number, readReplicas: number): DesiredNode[] {
  const of = (role: NodeRole, count: number) =>
    Array.from({ length: count }, (_, ordinal) => ({ name: nodeName(cluster, role, ordinal), ordinal, role }));
  return [...of("voter", replicas), ...of("read-only", readReplicas)];
}

/** The member a Pod or PVC name stands for, or undefined for a name the cluster does not own. */
export function parseMemberName(cluster: string, name: string): DesiredNode | undefined {
  const m = /^(ro-)?(0|[1-9][0-9]*)$/.exec(name.startsWith(`${cluster}-`) ? name.slice(cluster.length + 1) : "");
  if (!m) return undefined;
  return { name, ordinal: Number(m[2]), role: m[1] ? "read-only" : "voter" };
}
