// The install tests' outside tools: binaries (promtool among them) and CRD folders that
// hack/build-binaries.sh builds or copies from pinned Go modules into its cache. They are taken
// from the cache, never from PATH, so a fresh machine runs the same pinned versions as CI.
import { execFile } from "node:child_process";
import { realpathSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("../../../hack/build-binaries.sh", import.meta.url));
const cache = process.env.RQLITE_OPERATOR_CACHE ?? join(homedir(), ".cache", "rqlite-operator");

export interface Tools {
  /** Path of a built binary, e.g. bin("cert-manager"). */
  bin(name: string): string;
  /** Folder of CRD YAML copied from a pinned module, e.g. crds("prometheus-operator"). */
  crds(name: string): string;
}

/** Builds (or finds cached) the named wrapper tools; a cold cert-manager build takes minutes. */
export function buildTools(names: string[]): Promise<Tools> {
  return new Promise((resolve, reject) => {
    execFile("bash", [script, ...names], { maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
      if (err) {
        const cause =
          stderr
            .split("\n")
            .filter((l) => l.includes("error:"))
            .pop() ?? stderr.trim().split("\n").pop();
        reject(new Error(`hack/build-binaries.sh ${names.join(" ")} failed: ${cause ?? err.message}`));
        return;
      }
      resolve({
        bin: (name) => join(cache, "assets", name),
        // kubectl -f does not descend into a symlinked folder, so hand it the real one.
        crds: (name) => realpathSync(join(cache, "crds", name)),
      });
    });
  });
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws for a non-zero exit (the caller asserts). */
export function run(
  cmd: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === "number"
            ? (err as { code: number }).code
            : 127
          : 0;
        resolve({ code, stdout, stderr: stderr || (err && !stderr ? err.message : "") });
      },
    );
    child.stdin?.end(opts.input);
  });
}

const binaries = new Map<string, Promise<string>>();

/** One pinned tool's binary, built on first use (once per test run); a cold build takes minutes. */
export function buildBinary(name: string): Promise<string> {
  let path = binaries.get(name);
  if (!path) {
    path = buildTools([name]).then((tools) => tools.bin(name));
    binaries.set(name, path);
  }
  return path;
}

/** The pinned promtool (hack/tools/promtool). */
export function buildPromtool(): Promise<string> {
  return buildBinary("promtool");
}

/** Runs the pinned promtool. */
export async function promtool(args: string[], input?: string): Promise<RunResult> {
  return run(await buildPromtool(), args, { input });
}
