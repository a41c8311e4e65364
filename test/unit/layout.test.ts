// The README's layout tables are the map of the repository: this test holds them to the tree as it
// is when the test runs, so a file added without its row (or a row left for a file gone) fails.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
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

/**
 * The repository's files as git sees them: tracked, and untracked but not ignored (a file just
 * added counts), so build output, caches and .tmp/ never do.
 */
const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
  cwd: root,
  encoding: "utf8",
})
  .split("\n")
  .filter((f) => f !== "" && existsSync(join(root, f)));

/** Every folder (with a trailing slash) and file under `dir`, repo-relative. */
function tree(dir: string): string[] {
  const under = files.filter((f) => f.startsWith(`${dir}/`));
  const folders = new Set(
    under.flatMap((f) =>
      f
        .split("/")
        .slice(1, -1)
        .map((_, i, parts) => `${dir}/${parts.slice(0, i + 1).join("/")}/`),
    ),
  );
  return [...folders, ...under];
}

/** Top-level folders of the repository that hold a file git knows. */
function topFolders(): string[] {
  return [...new Set(files.filter((f) => f.includes("/")).map((f) => `${f.split("/")[0]}/`))];
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
