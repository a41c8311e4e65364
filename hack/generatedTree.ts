// A folder a generator owns whole (bundle/, the Helm chart): what is in it now, and replacing it
// with what the generator renders, so files it no longer writes do not linger.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

/** Files under `dir`, relative to it, sorted. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

/** Empties `dir` and writes `files` (path relative to it -> content), saying each one as `tool`. */
export function replaceTree(dir: string, files: Record<string, string>, tool: string, root: string): void {
  rmSync(dir, { recursive: true, force: true });
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), content);
    console.log(`${tool}: wrote ${relative(root, join(dir, rel))}`);
  }
}
