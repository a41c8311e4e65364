import { execFile } from "node:child_process";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("../hack/build-binaries.sh", import.meta.url));

/**
 * The folder holding kube-apiserver and etcd: KUBEBUILDER_ASSETS when set, otherwise the cache
 * filled by hack/build-binaries.sh (which builds on a cold cache and returns at once when warm).
 * A failure becomes one line saying the cause and the fix, as the script prints it.
 */
export function resolveAssets(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile("bash", [script], { env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
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

/** The build cache's assets folder, which always holds the rqlited-<version> binaries. */
export function cacheAssetsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.RQLITE_OPERATOR_CACHE ?? join(homedir(), ".cache/rqlite-operator"), "assets");
}
