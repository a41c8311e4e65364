// Which rqlite nodes a cluster should have; shared/names.ts maps a Pod name back to its node.
import { nodeName, type MemberName, type NodeRole } from "../../../shared/names.js";

export type DesiredNode = MemberName;

export function desiredMembers(cluster: string, replicas: number, readReplicas: number): DesiredNode[] {
  const of = (role: NodeRole, count: number) =>
    Array.from({ length: count }, (_, ordinal) => ({ name: nodeName(cluster, role, ordinal), ordinal, role }));
  return [...of("voter", replicas), ...of("read-only", readReplicas)];
}
