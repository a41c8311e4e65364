// The CRDs the install paths' objects need on a test control plane: cert-manager's (from its
// pinned module), prometheus-operator's ServiceMonitor and PrometheusRule, and optionally the
// operator's own RqCluster and RqBackup CRDs (a Helm release installs those itself).
import { join } from "node:path";
import type { ControlPlane } from "../../../testenv/controlplane.js";
import { installCRDs, OPERATOR_CRD_FILES } from "../../../testenv/crds.js";
import { buildTools } from "./tools.js";

export async function installDependencyCRDs(cp: ControlPlane, opts: { rqlite: boolean }): Promise<void> {
  const tools = await buildTools(["cert-manager", "prometheus-operator"]);
  const promCrds = ["servicemonitors", "prometheusrules"].map((r) =>
    join(tools.crds("prometheus-operator"), `monitoring.coreos.com_${r}.yaml`),
  );
  const rqlite = opts.rqlite ? [...OPERATOR_CRD_FILES] : [];
  await installCRDs(cp, [tools.crds("cert-manager"), ...promCrds, ...rqlite]);
}
