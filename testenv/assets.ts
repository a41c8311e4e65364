import { execFile } from "node:child_process";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("../hack/build-binaries.sh", import.meta.url));

/**
 * Builds (on a cold cache) or finds (warm, at once) the named tools of hack/tools/ and returns the
 * script's last line: the folder with kube-apiserver and etcd. Callers name only what they run,
 * because a cold build of everything takes many minutes and most commands need a few tools.
 * A failure becomes one line saying the cause and the fix, as the script prints it.
 */
export function buildBinaries(names: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile("bash", [script, ...names], { env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const cause =
          stderr
            .split("\n")
            .filter((l) => l.includes("error:"))
            .pop() ?? `hack/build-binaries.sh failed: ${stderr.trim().split("\n").pop() ?? err.message}`;
        reject(new Error(cause.replace(/^build-binaries: error: /, "")));
        return;
      }
      resolve(stdout.trim().split("\n").pop()!);
    });
    // Relay progress so a long cold build is not silent.
    child.stderr?.on("data", (d: Buffer) => {
      if (env.TESTENV_QUIET !== "1") process.stderr.write(d);
    });
  });
}

/** What a control plane with scheduling (startControlPlane's `scheduling`) runs besides those two. */
export const SCHEDULING_TOOLS = ["kube-scheduler", "kube-controller-manager"];

/**
 * The folder holding kube-apiserver and etcd (and `extra` tools, e.g. SCHEDULING_TOOLS):
 * KUBEBUILDER_ASSETS when set, otherwise the cache filled by hack/build-binaries.sh with these only.
 */
export function resolveAssets(env: NodeJS.ProcessEnv = process.env, extra: string[] = []): Promise<string> {
  return buildBinaries(["kube-apiserver", "etcd", ...extra], env);
}

/** The rqlited versions pinned in hack/tools/rqlited*, which the local runtime and tests run. */
export const RQLITED_TOOLS = ["rqlited", "rqlited-prev"];

/** The build cache's assets folder: every built tool, and rqlited by version (rqlited-8.43.4). */
export function cacheAssetsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.RQLITE_OPERATOR_CACHE ?? join(homedir(), ".cache/rqlite-operator"), "assets");
}
