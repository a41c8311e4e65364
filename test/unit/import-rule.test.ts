import { strict as assert } from "node:assert";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("../..", import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith(".ts") ? [p] : [];
  });
}

/** Every module specifier a file imports, statically or dynamically. */
export function importsOf(source: string): string[] {
  const specs: string[] = [];
  const re =
    /(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|import\s+["']([^"']+)["']/g;
  for (const m of source.matchAll(re)) specs.push((m[1] ?? m[2] ?? m[3])!);
  return specs;
}

/** Imports from files under `from` that resolve under `forbidden` (both repo-relative folders). */
function crossings(from: string, forbidden: string): string[] {
  return sourceFiles(join(root, from)).flatMap((file) =>
    importsOf(readFileSync(file, "utf8"))
      .filter((s) => s.startsWith("."))
      .filter((s) => `${relative(root, join(file, "..", s))}/`.startsWith(`${forbidden}/`))
      .map((s) => `${relative(root, file)} imports ${s}`),
  );
}

describe("import rules", () => {
  it("finds imports in every syntax it checks", () => {
    const src = `import a from "../x.js";\nimport { b } from '../y.js';\nexport * from "../z.js";\nawait import("../w.js");\nimport "../v.js";`;
    assert.deepEqual(importsOf(src), ["../x.js", "../y.js", "../z.js", "../w.js", "../v.js"]);
  });

  it("webhook/ never imports controller/", () => {
    assert.deepEqual(crossings("webhook", "controller"), []);
  });

  it("controller/ never imports webhook/", () => {
    assert.deepEqual(crossings("controller", "webhook"), []);
  });

  it("shared/ imports neither", () => {
    assert.deepEqual([...crossings("shared", "webhook"), ...crossings("shared", "controller")], []);
  });

  it("controller/runtime/ is generic: it imports nothing rqlite-specific", () => {
    const specific = ["shared", "controller/rqcluster", "controller/rqlite", "webhook"];
    assert.deepEqual(
      specific.flatMap((f) => crossings("controller/runtime", f)),
      [],
    );
  });

  it("controller/rqbackup/ and rqscheduledbackup/ reach clusters and S3 through controller/access/, never rqcluster/'s internals", () => {
    assert.deepEqual(
      ["controller/rqbackup", "controller/rqscheduledbackup"].flatMap((f) => crossings(f, "controller/rqcluster")),
      [],
    );
  });

  it("controller/access/ is shared by every kind: it imports none of them", () => {
    const kinds = ["controller/rqcluster", "controller/rqbackup", "controller/rqscheduledbackup"];
    assert.deepEqual(
      kinds.flatMap((f) => crossings("controller/access", f)),
      [],
    );
  });

  it("nothing outside test/ imports test/", () => {
    const outside = ["shared", "webhook", "controller", "testenv", "local", "bench", "hack"];
    assert.deepEqual(
      outside.flatMap((f) => crossings(f, "test")),
      [],
    );
  });
});
