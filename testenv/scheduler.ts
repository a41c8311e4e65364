// kube-scheduler for the test control plane: the default profile, as a cluster runs it, so Pods
// are placed by their affinity, anti-affinity, spread constraints, resources and volumes, and a
// Pod that fits nowhere stays Pending with the scheduler's reason in PodScheduled.
import { startComponent, type ComponentContext, type StartedComponent } from "./componentProcess.js";

export function startScheduler(ctx: ComponentContext, extraArgs: string[] = []): Promise<StartedComponent> {
  // /readyz includes the informers' first sync, so a Pod created after this is seen.
  // A Pod tried while its claim was still being bound was seen to wait out the default 5 minutes
  // in the unschedulable queue after the claim bound; 10 s keeps a stall like that short.
  const args = ["--v=1", "--pod-max-in-unschedulable-pods-duration=10s", ...extraArgs];
  return startComponent(ctx, "kube-scheduler", "system:kube-scheduler", args, "/readyz");
}
