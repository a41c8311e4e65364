// Generated trees (bundle/, the Helm chart) compared with what their generator renders now.
import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Files under `dir` that differ from `rendered` (by path relative to `dir`), are missing, or
 * are there although the generator no longer writes them.
 */
export function outOfDateFiles(rendered: Record<string, string>, dir: string, committed: string[]): string[] {
  const stale = Object.entries(rendered)
    .filter(([rel, content]) => {
      try {
        return readFileSync(join(dir, rel), "utf8") !== content;
      } catch {
        return true;
      }
    })
    .map(([rel]) => rel);
  return [...stale, ...committed.filter((rel) => !(rel in rendered))];
}
