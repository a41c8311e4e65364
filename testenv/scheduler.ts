// kube-scheduler for the test control plane: the default profile, as a cluster runs it, so Pods
// are placed by their affinity, anti-affinity, spread constraints, resources and volumes, and a
// Pod that fits nowhere stays Pending with the scheduler's reason in PodScheduled.
import { startComponent, type ComponentContext, type StartedComponent } from "./componentProcess.js";

export function startScheduler(ctx: ComponentContext, extraArgs: string[] = []): Promise<StartedComponent> {
  // /readyz includes the informers' first sync, so a Pod created after this is seen.
  return startComponent(ctx, "kube-scheduler", "system:kube-scheduler", ["--v=1", ...extraArgs], "/readyz");
}
