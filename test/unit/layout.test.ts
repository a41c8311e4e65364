// The README's layout tables are the map of the repository: this test holds them to the tree as it
// is when the test runs, so a file added without its row (or a row left for a file gone) fails.
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const root = new URL("../..", import.meta.url).pathname;
const readme = readFileSync(join(root, "README.md"), "utf8");

/** The backticked paths in the first cell of every table row of the README. */
function tablePaths(): string[] {
  return readme
    .split("\n")
    .filter((line) => line.startsWith("| `"))
    .flatMap((line) => [...line.split("|")[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
}

/** Every folder (with a trailing slash) and file under `dir`, repo-relative. */
function tree(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const rel = `${dir}/${name}`;
    return statSync(join(root, rel)).isDirectory() ? [`${rel}/`, ...tree(rel)] : [rel];
  });
}

/** Top-level folders of the repository, what git ignores and its own folder left out. */
function topFolders(): string[] {
  const ignored = new Set([".git", "node_modules", "dist"]);
  return readdirSync(root)
    .filter((name) => !ignored.has(name) && statSync(join(root, name)).isDirectory())
    .map((name) => `${name}/`);
}

describe("the README's layout tables", () => {
  const named = new Set(tablePaths());

  it("name every top-level folder", () => {
    assert.deepEqual(
      topFolders().filter((f) => !named.has(f)),
      [],
    );
  });

  it("name every folder and file of controller/", () => {
    assert.deepEqual(
      tree("controller").filter((p) => !named.has(p)),
      [],
    );
  });

  it("name only folders and files of controller/ that exist", () => {
    const present = new Set(["controller/", ...tree("controller")]);
    assert.deepEqual(
      [...named].filter((p) => p.startsWith("controller/") && !present.has(p)),
      [],
    );
  });

  it("read the rows they check (a table the parser missed would pass everything)", () => {
    assert.ok(named.has("controller/rqcluster/plan/invariants.ts"));
    assert.ok(named.has("shared/"));
  });
});
