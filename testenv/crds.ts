import { fileURLToPath } from "node:url";
import type { ControlPlane } from "./controlplane.js";

/** Every CRD the operator serves, as generated into crds/ (npm run generate). */
export const OPERATOR_CRD_FILES: readonly string[] = [
  "rqlite.io_rqclusters.yaml",
  "rqlite.io_rqbackups.yaml",
  "rqlite.io_rqscheduledbackups.yaml",
].map((f) => fileURLToPath(new URL(`../crds/${f}`, import.meta.url)));

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
  // kubectl wait fails at once, instead of waiting, on a CRD the API server has not given a status
  // yet ("accessor error: <nil>"), which a large CRD on a busy machine shows for a moment.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seconds = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const r = await cp.kubectl(["wait", "--for=condition=Established", `--timeout=${seconds}s`, ...crds]);
    if (r.code === 0) break;
    if (!/accessor error: <nil>/.test(r.stderr) || Date.now() > deadline)
      throw new Error(`kubectl wait for ${crds.join(", ")} to be Established failed (exit ${r.code}): ${r.stderr}`);
    await new Promise((res) => setTimeout(res, 250));
  }
  return crds.map((c) => c.split("/")[1]!);
}
