// The Dockerfile's invariants, checked without a container engine: a pinned Node base no older
// than package.json's engines, `npm ci` + tsc in a build stage, production dependencies only in the
// final stage, a numeric non-root user equal to the Pods' runAsUser, and every source folder
// the two entry points import copied in (with .dockerignore letting exactly those through).
import { strict as assert } from "node:assert";
import { existsSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import ts from "typescript";
import { kustomize, REPO_ROOT } from "../../hack/kustomize.js";

interface Stage {
  from: string;
  name?: string;
  lines: string[];
}

function stages(dockerfile: string): { args: Record<string, string>; stages: Stage[] } {
  const args: Record<string, string> = {};
  const out: Stage[] = [];
  const logical = dockerfile
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  for (const line of logical) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    const arg = /^ARG\s+(\w+)=(\S+)/i.exec(line);
    if (from)
      out.push({ from: from[1]!.replace(/^\$\{(\w+)\}$/, (_, n: string) => args[n] ?? n), name: from[2], lines: [] });
    else if (arg && out.length === 0) args[arg[1]!] = arg[2]!;
    else out.at(-1)?.lines.push(line);
  }
  return { args, stages: out };
}

/** Top-level folders of every repository file the two entry points load, JSON included. */
function importedFolders(): string[] {
  const program = ts.createProgram([join(REPO_ROOT, "controller/main.ts"), join(REPO_ROOT, "webhook/main.ts")], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    resolveJsonModule: true,
    noEmit: true,
  });
  const files = program
    .getSourceFiles()
    .map((f) => relative(REPO_ROOT, f.fileName))
    .filter((f) => !f.startsWith("node_modules") && !f.startsWith(".."));
  return [...new Set(files.map((f) => f.split(sep)[0]!))].sort();
}

describe("install: Dockerfile", () => {
  const text = readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8");
  const { stages: all } = stages(text);
  const final = all.at(-1)!;

  it("builds FROM one exactly pinned Node release whose major is at least package.json's engines", () => {
    const bases = new Set(all.map((s) => s.from));
    assert.equal(bases.size, 1, `one base image for every stage, got ${[...bases].join(", ")}`);
    const [base] = [...bases] as [string];
    assert.match(base, /^node:(\d+)\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$|^node@sha256:[0-9a-f]{64}$/, base);
    const engines = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { engines: { node: string } })
      .engines.node;
    const major = Number(/node:(\d+)/.exec(base)?.[1]);
    assert.ok(major >= Number(/(\d+)/.exec(engines)?.[1]), `Node major of ${base} vs engines ${engines}`);
  });

  it("installs with npm ci and compiles with tsc in a build stage", () => {
    const build = all.find((s) => s.lines.some((l) => /\btsc\b/.test(l)));
    assert.ok(build, "a stage runs tsc");
    assert.ok(
      build.lines.some((l) => /^RUN npm ci\b/.test(l)),
      "the tsc stage installs with npm ci",
    );
    assert.ok(
      final.lines.some((l) => new RegExp(`^COPY --from=${build.name} \\S*/dist `).test(l)),
      "the final stage copies dist/ from it",
    );
  });

  it("ships production dependencies only", () => {
    assert.ok(
      !final.lines.some((l) => /^RUN npm (ci|install)\b(?!.*--omit=dev)/.test(l)),
      "no full install in the final stage",
    );
    const modules = final.lines.find((l) => /^COPY --from=\S+ \S*node_modules /.test(l));
    const source = modules && all.find((s) => s.name === /--from=(\S+)/.exec(modules)![1]);
    assert.ok(source, "the final stage copies node_modules from a stage");
    assert.ok(
      source.lines.some((l) => /^RUN npm ci .*--omit=dev/.test(l)),
      `stage ${source.name} installs with npm ci --omit=dev`,
    );
  });

  it("runs as the numeric non-root user the Deployments ask for", async () => {
    const user = final.lines.filter((l) => l.startsWith("USER ")).at(-1);
    assert.equal(user, "USER 65532:65532");
    for (const d of (await kustomize("deploy/base")).filter((o) => o.kind === "Deployment")) {
      const sc = (d.spec as { template: { spec: { securityContext: { runAsUser: number; runAsGroup: number } } } })
        .template.spec.securityContext;
      assert.deepEqual([sc.runAsUser, sc.runAsGroup], [65532, 65532], d.metadata.name);
    }
  });

  it("copies every folder the entry points import, and .dockerignore lets exactly those in", () => {
    const folders = importedFolders();
    assert.ok(
      folders.includes("controller") && folders.includes("webhook") && folders.includes("shared"),
      folders.join(", "),
    );
    const build = all.find((s) => s.lines.some((l) => /\btsc\b/.test(l)))!;
    const copied = build.lines
      .map((l) => /^COPY (\w+) \.\/\1$/.exec(l)?.[1])
      .filter((f) => f !== undefined)
      .sort();
    assert.deepEqual(copied, folders);
    const ignore = readFileSync(join(REPO_ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"));
    assert.equal(ignore[0], "*", ".dockerignore starts by excluding everything");
    assert.deepEqual(ignore.slice(1).sort(), [
      "!controller/",
      "!package-lock.json",
      "!package.json",
      "!shared/",
      "!tsconfig.json",
      "!webhook/",
    ]);
    for (const main of ["controller/main.ts", "webhook/main.ts"]) assert.ok(existsSync(join(REPO_ROOT, main)), main);
  });
});
