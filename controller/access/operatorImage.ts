// The image the operator runs from, for the Jobs that run its own code against a user's claim
// (a `pvc` RqBackup's writer, a schedule's file deletes): --backup-job-image, else read once from
// this process's own Pod (its hostname, in the operator's namespace).
import { hostname } from "node:os";
import type { V1Pod } from "@kubernetes/client-node";
import type { KubeClient } from "../runtime/kubeClient.js";
import { objectPath } from "../runtime/paths.js";

/** A resolver that remembers the image once known; `configured` wins when set. */
export function operatorImage(
  client: KubeClient,
  configured: string | undefined,
  operatorNamespace: string | undefined,
): () => Promise<string> {
  let known = configured;
  return async () => {
    if (known) return known;
    const ns = operatorNamespace ?? process.env.POD_NAMESPACE;
    const name = hostname();
    const fix = "start the operator with --backup-job-image=<the operator's image>";
    if (!ns) throw new Error(`the backup Job's image is unknown (no POD_NAMESPACE to find the operator's Pod); ${fix}`);
    const pods = await client
      .request<{ items: V1Pod[] }>({
        method: "GET",
        path: objectPath({ apiVersion: "v1", resource: "pods", namespace: ns }),
        query: { fieldSelector: `metadata.name=${name}` },
        timeoutMs: 30_000,
      })
      .catch((err: Error) => {
        throw new Error(
          `the backup Job's image is unknown: reading the operator's Pod ${ns}/${name}: ${err.message}; ${fix}`,
        );
      });
    const image = pods.items[0]?.spec?.containers[0]?.image;
    if (!image) throw new Error(`the backup Job's image is unknown: no Pod ${ns}/${name} runs this operator; ${fix}`);
    known = image;
    return image;
  };
}
