// The README's layout tables are the map of the repository: this test holds them to the tree as it
// is when the test runs, so a file added without its row (or a row left for a file gone) fails.
// The unit tests are a map too: each one's path names the source it tests.
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

/** The unit tests that hold the whole repository to a rule, so no one source file or folder owns them. */
const REPOSITORY_RULES = new Set(["layout", "import-rule", "purity"]);

/**
 * Whether `name` (a test's path under test/unit/ without `.test.ts`) names what it tests: a source
 * file (`name`.ts), a source folder, or either with one `.aspect` after it (`shared/validate.fuzz`).
 */
function namesSource(name: string): boolean {
  if (files.includes(`${name}.ts`) || files.some((f) => f.startsWith(`${name}/`) && !f.startsWith("test/"))) {
    return true;
  }
  const aspect = /^(.+)\.[^./]+$/.exec(name);
  return aspect !== null && namesSource(aspect[1]!);
}

describe("the unit tests' paths", () => {
  const unit = files.filter((f) => f.startsWith("test/unit/"));

  it("name the source they test: test/unit/<source file or folder>[.<aspect>].test.ts", () => {
    assert.deepEqual(
      unit
        .filter((f) => f.endsWith(".test.ts"))
        .map((f) => f.slice("test/unit/".length, -".test.ts".length))
        .filter((name) => !REPOSITORY_RULES.has(name) && !namesSource(name)),
      [],
    );
  });

  it("keep their helpers in test/unit/support/, which mirrors nothing", () => {
    assert.deepEqual(
      unit.filter((f) => !f.endsWith(".test.ts") && !f.startsWith("test/unit/support/")),
      [],
    );
  });

  it("refuse a flat name and a name of no source (a rule that admits everything checks nothing)", () => {
    assert.ok(namesSource("controller/rqcluster/plan/rollout"));
    assert.ok(namesSource("controller/rqcluster/plan"));
    assert.ok(namesSource("shared/validate.fuzz"));
    assert.ok(!namesSource("plan-scheduling"));
    assert.ok(!namesSource("controller/rqcluster/plan/nothing"));
    assert.ok(!namesSource("support/random"));
  });
});
