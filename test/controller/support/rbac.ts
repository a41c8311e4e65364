import type { ControlPlane } from "../../../testenv/controlplane.js";

export interface Grant {
  /** Namespace of the Role and RoleBinding. */
  namespace: string;
  role: string;
  serviceAccount: { namespace: string; name: string };
  verbs: string[];
  /** kubectl's --resource form, e.g. "configmaps" or "leases.coordination.k8s.io". */
  resources: string[];
}

/** A Role and a RoleBinding giving a ServiceAccount exactly these verbs in one namespace. */
export async function grantRole(cp: ControlPlane, g: Grant): Promise<void> {
  await cp.kubectlOk([
    "create",
    "role",
    g.role,
    "-n",
    g.namespace,
    `--verb=${g.verbs.join(",")}`,
    ...g.resources.map((r) => `--resource=${r}`),
  ]);
  await cp.kubectlOk([
    "create",
    "rolebinding",
    g.role,
    "-n",
    g.namespace,
    `--role=${g.role}`,
    `--serviceaccount=${g.serviceAccount.namespace}:${g.serviceAccount.name}`,
  ]);
}

export async function revokeRole(cp: ControlPlane, namespace: string, role: string): Promise<void> {
  await cp.kubectlOk(["delete", "rolebinding", role, "-n", namespace]);
}
