// The in-tree host-path provisioner writes every PV's folder under /tmp/hostpath_pv, outside the
// control plane's own folder. The PV controller removes a folder when its claim goes (reclaim
// policy Delete), but not for claims still there when the plane stops: this watch records each
// folder with the plane's reaper, which removes it when the plane stops, even after a crash.
import type { V1PersistentVolume } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { Informer } from "../controller/runtime/informer.js";
import { KubeClient, loadKubeConfig } from "../controller/runtime/kubeClient.js";
import { HOSTPATH_PV_ROOT } from "./storageClasses.js";

export interface HostPathVolumeTracker {
  stop(): Promise<void>;
}

/** Calls onFolder once for each host-path PV folder the provisioner makes on this plane. */
export async function trackHostPathVolumes(
  kubeconfigPath: string,
  onFolder: (path: string) => void,
): Promise<HostPathVolumeTracker> {
  const seen = new Set<string>();
  const pvs = new Informer<V1PersistentVolume>({
    client: new KubeClient(loadKubeConfig(kubeconfigPath), new Registry()),
    apiVersion: "v1",
    resource: "persistentvolumes",
  });
  const record = (pv: V1PersistentVolume) => {
    const path = pv.spec?.hostPath?.path;
    // Only folders the provisioner made: a hand-made hostPath PV may point at anything.
    if (!path?.startsWith(HOSTPATH_PV_ROOT) || path.includes("..") || seen.has(path)) return;
    seen.add(path);
    onFolder(path);
  };
  pvs.on("add", record);
  pvs.on("update", record);
  pvs.start();
  await pvs.waitForSync();
  return { stop: () => pvs.stop() };
}
