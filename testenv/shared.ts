import { startControlPlane, type ControlPlane } from "./controlplane.js";

// One control plane of each kind per test run, started by the first suite that asks for it.
let shared: Promise<ControlPlane> | undefined;
let sharedScheduling: Promise<ControlPlane> | undefined;
let counter = 0;

/** kube-apiserver and etcd only: nothing schedules, collects or computes disruption budgets. */
export function sharedControlPlane(): Promise<ControlPlane> {
  shared ??= startControlPlane();
  return shared;
}

/**
 * The plane a cluster has: kube-scheduler and kube-controller-manager too (disruption budgets,
 * garbage collection, node lifecycle, PV binding). Each suite runs its own local runtime as the
 * kubelet of its Nodes (local/stack.ts `nodes`) and removes them when it stops, so the next suite
 * registers the same names afresh.
 */
export function sharedSchedulingControlPlane(): Promise<ControlPlane> {
  sharedScheduling ??= startControlPlane({
    scheduling: {
      // A Pod tried while its claim was still being bound can miss the claim's update and sit in
      // the scheduler's unschedulable queue for the default 5 minutes; seen here, it stalled a
      // cluster's creation. Tried again after 10 s at the latest, as other cluster events would.
      extraSchedulerArgs: ["--pod-max-in-unschedulable-pods-duration=10s"],
    },
  });
  return sharedScheduling;
}

export async function stopSharedControlPlane(): Promise<void> {
  const planes = [shared, sharedScheduling];
  shared = sharedScheduling = undefined;
  await Promise.all(planes.map(async (p) => (await p?.catch(() => undefined))?.stop()));
}

/** A fresh namespace per suite, so suites never see each other's objects. */
export async function createTestNamespace(
  cp: ControlPlane,
  prefix: string,
  labels: Record<string, string> = {},
): Promise<string> {
  const name = `${prefix}-${process.pid}-${++counter}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .slice(0, 63);
  const labelArgs = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  await cp.kubectlOk(["create", "namespace", name]);
  if (labelArgs.length) await cp.kubectlOk(["label", "namespace", name, ...labelArgs]);
  return name;
}
