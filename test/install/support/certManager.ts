// cert-manager's controller and cainjector (the pinned build, hack/tools/cert-manager) running
// against a test control plane, as they run in a cluster.
import { join } from "node:path";
import type { ControlPlane } from "../../../testenv/controlplane.js";
import type { ProcessGroup } from "../../../testenv/processes.js";
import type { Tools } from "./tools.js";

/** Starts both cert-manager components in `group`, each logging to `<logDir>/cert-manager-<component>.log`. */
export function startCertManager(group: ProcessGroup, cp: ControlPlane, tools: Tools, logDir: string): void {
  for (const component of ["controller", "cainjector"]) {
    group.start(
      `cert-manager-${component}`,
      tools.bin("cert-manager"),
      [component, `--kubeconfig=${cp.kubeconfigPath}`],
      join(logDir, `cert-manager-${component}.log`),
    );
  }
}
