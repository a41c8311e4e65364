import { fileURLToPath } from "node:url";
import type { ControlPlane } from "./controlplane.js";

/** Every CRD the operator serves, as generated into crds/ (npm run generate). */
export const OPERATOR_CRD_FILES: readonly string[] = ["rqlite.io_rqclusters.yaml", "rqlite.io_rqbackups.yaml"].map(
  (f) => fileURLToPath(new URL(`../crds/${f}`, import.meta.url)),
);

/**
 * Applies CRD manifests (files or folders) server-side and waits until every CRD they define
 * is Established, so custom resources can be created right after.
 */
export async function installCRDs(cp: ControlPlane, paths: string[], timeoutMs = 30_000): Promise<string[]> {
  const fileArgs = paths.flatMap((p) => ["-f", p]);
  const out = await cp.kubectlOk(["apply", "--server-side", "--force-conflicts", ...fileArgs, "-o", "name"]);
  const crds = out
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("customresourcedefinition.apiextensions.k8s.io/"));
  if (crds.length === 0) throw new Error(`no CustomResourceDefinition found in ${paths.join(", ")}`);
  await cp.kubectlOk(["wait", "--for=condition=Established", `--timeout=${Math.ceil(timeoutMs / 1000)}s`, ...crds]);
  return crds.map((c) => c.split("/")[1]!);
}
