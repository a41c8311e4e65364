// kube-controller-manager for the test control plane: the controllers whose work the operator
// relies on (garbage collection of owned children, node health and taints, PodDisruptionBudget
// status, PVC binding with the in-tree host-path provisioner, expansion, namespace deletion,
// PVC/PV protection, Jobs, the aggregated ClusterRoles), and nothing that needs parts this plane lacks (no kube-proxy, no cloud).
import { startComponent, type ComponentContext, type StartedComponent } from "./componentProcess.js";

export const CONTROLLERS = [
  "garbage-collector-controller",
  "namespace-controller",
  "node-lifecycle-controller",
  // Evicts Pods from NoExecute-tainted nodes once their tolerations run out (the
  // DefaultTolerationSeconds admission plugin gives every Pod 300 s for not-ready/unreachable).
  "taint-eviction-controller",
  "disruption-controller",
  "persistentvolume-binder-controller",
  "persistentvolume-expander-controller",
  "persistentvolumeclaim-protection-controller",
  "persistentvolume-protection-controller",
  // Runs the Jobs of `pvc` RqBackups (their Pods are run by the local runtime's nodes).
  "job-controller",
  // Fills the rules of `edit`, `admin` and `view`, which tenants in tests are bound to.
  "clusterrole-aggregation-controller",
];

export interface ControllerManagerOptions {
  /** How long a node may stay silent before it is marked Unknown; default 10 s (kube: 50 s). */
  nodeMonitorGracePeriodSeconds?: number;
  /** The same for a node that never reported; default 20 s (kube: 60 s). */
  nodeStartupGracePeriodSeconds?: number;
  extraArgs?: string[];
}

export function startControllerManager(
  ctx: ComponentContext,
  opts: ControllerManagerOptions = {},
): Promise<StartedComponent> {
  const grace = opts.nodeMonitorGracePeriodSeconds ?? 10;
  return startComponent(
    ctx,
    "kube-controller-manager",
    "system:kube-controller-manager",
    [
      `--controllers=${CONTROLLERS.join(",")}`,
      // Each controller acts as its own ServiceAccount (kube-system/<controller>), with the
      // system:controller:* role kube-apiserver bootstraps for it, as kubeadm runs it: a
      // permission a controller lacks fails here as it would in a cluster.
      "--use-service-account-credentials=true",
      "--enable-hostpath-provisioner=true",
      // Node health checked every second, with test-sized grace periods but the kubelet's order:
      // the runtime renews each node's Lease every 2 s, so a node is Unknown after ~5 missed renewals.
      "--node-monitor-period=1s",
      `--node-monitor-grace-period=${grace}s`,
      `--node-startup-grace-period=${opts.nodeStartupGracePeriodSeconds ?? 2 * grace}s`,
      "--v=1",
      ...(opts.extraArgs ?? []),
    ],
    "/healthz",
  );
}
