// `kubectl rqlite` as a user runs it on the scheduling plane: the plugin's own entry point with
// the plane's kubeconfig, in the test namespace, its exit code and output kept whatever it is.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { ScheduledEnv } from "./scheduledEnv.js";

const PLUGIN = fileURLToPath(new URL("../../cli/kubectl-rqlite", import.meta.url));

export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runPlugin(env: ScheduledEnv, args: string[]): Promise<PluginRun> {
  return await promisify(execFile)(process.execPath, [PLUGIN, ...args, "-n", env.ns], {
    env: { ...process.env, KUBECONFIG: env.cp.kubeconfigPath },
    timeout: 600_000,
  }).then(
    (r) => ({ code: 0, ...r }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({
      code: err.code ?? 1,
      stdout: err.stdout ?? "",
      stderr: err.stderr ?? "",
    }),
  );
}
