// The restricted Pod Security Standard as the API server's PodSecurity admission enforces it: a
// namespace that enforces it, and a server-side dry run of the Pods a Deployment would create.
import { stringify } from "yaml";
import type { K8sObject } from "../../../hack/kustomize.js";
import type { ControlPlane, KubectlResult } from "../../../testenv/controlplane.js";

export const RESTRICTED = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/enforce-version": "latest",
};

interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: Record<string, unknown>;
}

/** `kubectl create --dry-run=server` of a Pod in `namespace`: admission runs, nothing is stored. */
export function createPodDryRun(cp: ControlPlane, namespace: string, pod: object): Promise<KubectlResult> {
  return cp.kubectl(["create", "--dry-run=server", "-n", namespace, "-f", "-"], { input: stringify(pod) });
}

/** The Pod a Deployment's ReplicaSet would create from its template. */
export function podOfDeployment(deployment: K8sObject): object {
  const template = (deployment.spec as { template: PodTemplate }).template;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `${deployment.metadata.name}-x`, labels: template.metadata.labels },
    spec: template.spec,
  };
}
