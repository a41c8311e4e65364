// A Kubernetes node whose kubelet went silent long ago (Ready=Unknown), and a Pod bound to it, as
// the scheduler would have: what the operator sees of a machine it cannot reach.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ControlPlane } from "../../testenv/controlplane.js";

export async function createUnreachableNode(cp: ControlPlane, name: string): Promise<void> {
  await cp.kubectlOk(["create", "-f", "-"], {
    input: JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name } }),
  });
  const longAgo = new Date(Date.now() - 3600_000).toISOString().replace(/\.\d+Z$/, "Z");
  await cp.kubectlOk([
    "patch",
    "node",
    name,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({
      status: {
        conditions: [
          {
            type: "Ready",
            status: "Unknown",
            reason: "NodeStatusUnknown",
            message: "Kubelet stopped posting node status.",
            lastHeartbeatTime: longAgo,
            lastTransitionTime: longAgo,
          },
        ],
      },
    }),
  ]);
}

/** The scheduler's part: a Pod without a node gets one through its binding subresource. */
export async function bindPod(cp: ControlPlane, namespace: string, pod: string, node: string): Promise<void> {
  const binding = join(cp.dir, `binding-${namespace}-${pod}.json`);
  await writeFile(
    binding,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Binding",
      metadata: { name: pod },
      target: { apiVersion: "v1", kind: "Node", name: node },
    }),
  );
  await cp.kubectlOk(["create", "--raw", `/api/v1/namespaces/${namespace}/pods/${pod}/binding`, "-f", binding]);
}
