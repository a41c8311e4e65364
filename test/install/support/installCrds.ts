// The CRDs the install paths' objects need on a test control plane: cert-manager's (from its
// pinned module), prometheus-operator's ServiceMonitor and PrometheusRule, and optionally the
// operator's own RqCluster CRD (a Helm release installs that one itself).
import { join } from "node:path";
import { REPO_ROOT } from "../../../hack/kustomize.js";
import type { ControlPlane } from "../../../testenv/controlplane.js";
import { installCRDs } from "../../../testenv/crds.js";
import { buildTools } from "./tools.js";

export async function installDependencyCRDs(cp: ControlPlane, opts: { rqlite: boolean }): Promise<void> {
  const tools = await buildTools(["cert-manager", "prometheus-operator"]);
  const promCrds = ["servicemonitors", "prometheusrules"].map((r) =>
    join(tools.crds("prometheus-operator"), `monitoring.coreos.com_${r}.yaml`),
  );
  const rqlite = opts.rqlite ? [join(REPO_ROOT, "crds/rqlite.io_rqclusters.yaml")] : [];
  await installCRDs(cp, [tools.crds("cert-manager"), ...promCrds, ...rqlite]);
}
