// The decisions of an RqCluster reconcile are pure: plan/, render/, the backup slice's plan,
// render and status, status.ts, and the cluster view they share with the other kinds take what
// was observed and return data. This holds them to it by what they import: at run time (type
// imports aside) nothing that reads, writes or keeps state.
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("../..", import.meta.url).pathname;
const rqcluster = "controller/rqcluster";

const PURE = [
  ...["plan", "render"].flatMap((dir) =>
    readdirSync(join(root, rqcluster, dir)).map((f) => `${rqcluster}/${dir}/${f}`),
  ),
  `${rqcluster}/backup/before.ts`,
  `${rqcluster}/backup/loader.ts`,
  `${rqcluster}/backup/plan.ts`,
  `${rqcluster}/backup/render.ts`,
  `${rqcluster}/backup/status.ts`,
  `${rqcluster}/status.ts`,
  "controller/rqscheduledbackup/plan.ts",
  // What every kind knows of a cluster before asking it: the plans above build on it.
  "controller/access/clusterView.ts",
  // The restricted Pod that runs the operator's entry points on a claim (the loader renders one).
  "controller/rqbackup/job.ts",
];

/** What a pure module may import at run time: the schema package, hashing, and other pure modules. */
const allowed = (target: string) =>
  target === "node:crypto" ||
  target.startsWith("shared/") ||
  target === "controller/runtime/jsonSyntax.ts" ||
  target === `${rqcluster}/ports.ts` ||
  target === `${rqcluster}/drift.ts` ||
  // How a spec's S3 location becomes a connection: defaults only, no client.
  target === "controller/access/s3Connection.ts" ||
  PURE.includes(target);

/** The modules a file imports for their values (`import type` and `export type` left out). */
export function valueImports(source: string): string[] {
  const re = /(?:^|\n)\s*(?:import|export)\s+(type\s+)?(?:[^;]*?\sfrom\s*)?["']([^"']+)["']/g;
  return [...source.matchAll(re)].filter((m) => !m[1]).map((m) => m[2]!);
}

describe("pure decisions", () => {
  it("finds value imports and skips type imports", () => {
    const src = `import type { A } from "./a.js";\nimport {\n  b,\n} from "./b.js";\nexport { c } from "./c.js";\nimport "./d.js";`;
    assert.deepEqual(valueImports(src), ["./b.js", "./c.js", "./d.js"]);
  });

  it("import nothing that does I/O or keeps state", () => {
    const crossings = PURE.flatMap((file) =>
      valueImports(readFileSync(join(root, file), "utf8"))
        .map((spec) =>
          spec.startsWith(".") ? relative(root, join(root, file, "..", spec)).replace(/\.js$/, ".ts") : spec,
        )
        .filter((target) => !allowed(target))
        .map((target) => `${file} imports ${target}`),
    );
    assert.deepEqual(crossings, []);
  });
});
