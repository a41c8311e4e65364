// The pinned Helm (hack/tools/helm, v3 built from its Go module) against the generated chart.
import { join } from "node:path";
import { parseObjects, REPO_ROOT, type K8sObject } from "../../../hack/kustomize.js";
import { buildBinary, run, type RunResult } from "./tools.js";

export const CHART = join(REPO_ROOT, "deploy/helm/rqlite-operator");
/** A values file that sets every value the chart has (test/install/fixtures/). */
export const FULL_VALUES = join(REPO_ROOT, "test/install/fixtures/helm-values-full.yaml");

/** Runs the pinned helm; never throws for a non-zero exit (the caller asserts). */
export async function helm(args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return run(await buildBinary("helm"), args, { timeoutMs });
}

/** Like helm() but throws with helm's stderr when it exits non-zero. */
export async function helmOk(args: string[], timeoutMs?: number): Promise<string> {
  const r = await helm(args, timeoutMs);
  if (r.code !== 0) throw new Error(`helm ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** `helm template` of the chart into `namespace` with extra arguments (values), as objects. */
export async function helmTemplate(
  namespace: string,
  valueArgs: string[] = [],
  release = "rqlite-operator",
): Promise<K8sObject[]> {
  const args = ["template", release, CHART, "--namespace", namespace, ...valueArgs];
  return parseObjects(await helmOk(args), `helm ${args.join(" ")}`);
}

/** Arguments that make helm pass its manifests through support/helmLoopback.ts. */
export function loopbackPostRenderer(port: number, namespace: string): string[] {
  const script = join(REPO_ROOT, "test/install/support/helmLoopback.ts");
  return [
    `--post-renderer=${process.execPath}`,
    ...["--import", "tsx", script, String(port), namespace].map((a) => `--post-renderer-args=${a}`),
  ];
}
