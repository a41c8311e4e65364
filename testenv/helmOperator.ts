// The operator installed on a real cluster (realCluster.ts) the way users install it: cert-manager
// (its pinned build, running on the host against the API server, with its CRDs), then
// `helm install` of the chart, whose image the nodes imported, with --wait. Used by
// `npm run local -- --real` and by every suite of test/real/ (test/real/support.ts).
import { execFile } from "node:child_process";
import { realpath } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildBinaries, cacheAssetsDir } from "./assets.js";
import type { ControlPlane } from "./controlplane.js";
import { installCRDs } from "./crds.js";
import { ProcessGroup } from "./processes.js";

export const OPERATOR_CHART = fileURLToPath(new URL("../deploy/helm/rqlite-operator", import.meta.url));

export interface HelmOperator {
  /** Milliseconds `helm install --wait` took. */
  installMs: number;
  /**
   * `helm install --wait` of another release of the chart beside the first, as a second team
   * would (cert-manager is shared); `values` are helm's own arguments (`--set k=v`). Resolves to
   * the milliseconds it took; rejects with helm's message when helm refuses.
   */
  installRelease(release: string, namespace: string, values: string[]): Promise<number>;
  /** Stops cert-manager (the cluster's stop removes the rest). */
  stop(): Promise<void>;
}

const run = (file: string, args: string[], timeoutMs: number) =>
  new Promise<string>((resolve, reject) =>
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${file} ${args.join(" ")}: ${stderr.trim() || err.message}`)) : resolve(stdout),
    ),
  );

export async function installOperatorWithHelm(
  cp: ControlPlane,
  opts: {
    namespace: string;
    /** Where cert-manager's logs go. */
    logDir: string;
    /** The release's name; default rqlite-operator. */
    release?: string;
    /** helm's arguments for the release's values (`--set k=v`, `--values file`). */
    values?: string[];
  },
): Promise<HelmOperator> {
  await buildBinaries(["cert-manager", "helm"], { ...process.env, TESTENV_QUIET: "1" });
  const assets = cacheAssetsDir();
  // kubectl -f does not descend into a symlinked folder: the cache links the module's CRD folder.
  await installCRDs(cp, [await realpath(join(assets, "../crds/cert-manager"))]);
  const certManager = new ProcessGroup();
  const installRelease = async (release: string, namespace: string, values: string[]) => {
    const installing = Date.now();
    await run(
      join(assets, "helm"),
      [
        "install",
        release,
        OPERATOR_CHART,
        `--kubeconfig=${cp.kubeconfigPath}`,
        `--namespace=${namespace}`,
        "--create-namespace",
        "--wait",
        "--timeout=5m",
        ...values,
      ],
      330_000,
    );
    return Date.now() - installing;
  };
  try {
    for (const component of ["controller", "cainjector"])
      certManager.start(
        `cert-manager-${component}`,
        join(assets, "cert-manager"),
        [component, `--kubeconfig=${cp.kubeconfigPath}`],
        join(opts.logDir, `cert-manager-${component}.log`),
      );
    const installMs = await installRelease(opts.release ?? "rqlite-operator", opts.namespace, opts.values ?? []);
    return { installMs, installRelease, stop: () => certManager.stopAll() };
  } catch (err) {
    await certManager.stopAll();
    throw err;
  }
}
