// Which node a SQL command talks to: the leader the operator last saw, when its Pod is Ready, so
// writes and strong reads are not forwarded; else any Ready voter (rqlite forwards to the leader);
// else any node that runs, so that rqlite itself says what is wrong (no leader, say) instead of a
// guess from Pod readiness, which follows rqlite's own /readyz.
import { clusterPods, getCluster, isPodReady } from "./cluster.js";
import { CliError } from "./errors.js";
import type { Kube } from "./kube.js";
import { NodeProxy } from "./rqlite.js";
import { LABEL_ROLE } from "../shared/names.js";

const PROBE_TIMEOUT_MS = 3000;

export async function sqlTarget(kube: Kube, cluster: string, timeoutMs?: number): Promise<NodeProxy> {
  const rq = await getCluster(kube, cluster);
  const pods = await clusterPods(kube, rq);
  const ready = pods.filter((p) => isPodReady(p) && !p.metadata?.deletionTimestamp);
  const leader = ready.find((p) => p.metadata!.name === rq.status?.leader);
  const pod = leader ?? ready.find((p) => p.metadata?.labels?.[LABEL_ROLE] !== "read-only") ?? ready[0];
  if (pod) return new NodeProxy(kube, pod, timeoutMs);
  const running = pods.filter((p) => p.status?.podIP && !p.metadata?.deletionTimestamp);
  // None is Ready: the first that answers at all (a hung node would only time out).
  const answering = await Promise.any(
    running.map((p) => new NodeProxy(kube, p, PROBE_TIMEOUT_MS).status().then(() => p)),
  ).catch(() => undefined);
  if (!answering)
    throw new CliError(
      `no node of RqCluster ${kube.namespace}/${cluster} answers, so none can take SQL; see kubectl rqlite status ${cluster}`,
    );
  return new NodeProxy(kube, answering, timeoutMs);
}
