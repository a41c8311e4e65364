// The rqlite_operator_* gauges of RqClusters: how many there are, and per cluster the nodes it
// asks for, the nodes Ready, whether it has a leader, and how often that leader changed.
import type { Registry } from "prom-client";
import type { RqCluster } from "../../shared/index.js";
import type { WatchEvent } from "../runtime/controller.js";
import { counter, gauge } from "../runtime/metrics.js";

export function clusterMetrics(r: Registry) {
  const byCluster = ["namespace", "cluster"];
  const clusters = gauge(r, "rqlite_operator_clusters", "RqClusters known to the controller", []);
  const desired = gauge(
    r,
    "rqlite_operator_desired_nodes",
    "Nodes (voters and read replicas) a cluster's spec asks for",
    byCluster,
  );
  const ready = gauge(r, "rqlite_operator_ready_nodes", "Nodes of a cluster whose Pod is Ready", byCluster);
  const leaderChanges = counter(
    r,
    "rqlite_operator_leader_changes_total",
    "Times a cluster's rqlite leader was seen to change",
    byCluster,
  );
  const hasLeader = gauge(
    r,
    "rqlite_operator_cluster_has_leader",
    "1 when rqlite reports a leader for the cluster, else 0",
    byCluster,
  );
  const labelsOf = (c: RqCluster) => ({ namespace: c.metadata!.namespace!, cluster: c.metadata!.name! });
  return {
    /** Counts a leader change an update shows; a deleted cluster's series go. */
    follow(e: WatchEvent<RqCluster>, count: number): void {
      const labels = labelsOf(e.obj);
      if (e.type === "update") {
        const [now, before] = [e.obj.status?.leader, e.old?.status?.leader];
        if (now && before && now !== before) leaderChanges.inc(labels);
      } else if (e.type === "delete") {
        desired.remove(labels);
        ready.remove(labels);
        hasLeader.remove(labels);
        clusters.set(count);
      }
    },
    /** What a reconcile saw of the cluster. */
    update(cluster: RqCluster, leader: string | undefined, count: number): void {
      const labels = labelsOf(cluster);
      clusters.set(count);
      const spec = cluster.spec ?? {};
      // A hibernated cluster asks for no running node and has no leader by request: its has_leader
      // series goes, so that neither the no-leader nor the degraded alert fires for it.
      const hibernate = spec.hibernate === true;
      desired.set(labels, hibernate ? 0 : (spec.replicas ?? 3) + (spec.readReplicas ?? 0));
      const status = cluster.status;
      ready.set(labels, (status?.readyReplicas ?? 0) + (status?.readReplicasReady ?? 0));
      if (hibernate && !leader) hasLeader.remove(labels);
      else hasLeader.set(labels, leader ? 1 : 0);
    },
  };
}
