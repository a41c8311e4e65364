// Reads a user's PersistentVolumeClaim by name, for the features that mount one: a `pvc` RqBackup's
// Job, and the loader of a restore from a claim.
import type { V1PersistentVolumeClaim } from "@kubernetes/client-node";
import type { KubeClient } from "../runtime/kubeClient.js";
import { objectPath } from "../runtime/paths.js";

/** The claim, or undefined: a list narrowed to the one name, as the role lists claims but has no get. */
export async function readClaim(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<V1PersistentVolumeClaim | undefined> {
  const claims = await client.request<{ items: V1PersistentVolumeClaim[] }>({
    method: "GET",
    path: objectPath({ apiVersion: "v1", resource: "persistentvolumeclaims", namespace }),
    query: { fieldSelector: `metadata.name=${name}` },
    timeoutMs: 30_000,
  });
  return claims.items[0];
}
