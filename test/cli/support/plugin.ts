// Runs the plugin as a user does: `kubectl rqlite ...`, with the plugin found on PATH.
import { execFile } from "node:child_process";
import type { CliStack } from "./stack.js";

export interface Run {
  stdout: string;
  stderr: string;
  code: number;
  ms: number;
}

export interface RunOptions {
  /** KUBECONFIG for this run (default: the stack's test kubeconfig). */
  kubeconfig?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** The environment a user's shell would have: the plugin on PATH, KUBECONFIG set. */
export function pluginEnv(s: CliStack, opts: RunOptions = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: `${s.binDir}:${process.env.PATH ?? ""}`,
    KUBECONFIG: opts.kubeconfig ?? s.kubeconfig,
    ...opts.env,
  };
}

export function kubectlRqlite(s: CliStack, args: string[], opts: RunOptions = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      "kubectl",
      ["rqlite", ...args],
      { env: pluginEnv(s, opts), timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ stdout, stderr, code, ms: Date.now() - started });
      },
    );
  });
}

/** Fails with everything the run printed when it did not exit as expected. */
export function expectExit(run: Run, code: number): Run {
  if (run.code !== code)
    throw new Error(`expected exit ${code}, got ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return run;
}
