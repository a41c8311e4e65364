// How the plugin reaches users: `npm install -g` of this package (bin entries), and krew (the
// single-file build in a reproducible archive, and the manifest that names it).
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parse } from "yaml";
import { buildPlugin, KREW_MANIFEST, krewManifest } from "../../cli/bundle.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const exec = promisify(execFile);

interface KrewPlugin {
  metadata: { name: string };
  spec: { version: string; platforms: Array<{ sha256: string; bin: string; files: Array<{ from: string }> }> };
}

describe("kubectl rqlite packaging", function () {
  this.timeout(120_000);

  it("npm install -g puts a working kubectl-rqlite on PATH", async () => {
    const prefix = await mkdtemp(join(tmpdir(), "rqo-cli-global-"));
    await exec("npm", ["install", "-g", "--prefix", prefix, "--no-audit", "--no-fund", root]);
    const { stdout } = await exec(join(prefix, "bin", "kubectl-rqlite"), ["--help"]);
    assert.match(stdout, /^Usage: kubectl rqlite \[options\] \[command\]$/m);
    const complete = await exec(join(prefix, "bin", "kubectl_complete-rqlite"), ["sta"], {
      env: { ...process.env, PATH: `${join(prefix, "bin")}:${process.env.PATH}` },
    });
    assert.deepEqual(complete.stdout.split("\n").slice(0, 2), ["status", ":4"]);
  });

  it("builds the krew archive reproducibly, and deploy/krew/rqlite.yaml names it", async () => {
    const [a, b] = [
      await buildPlugin(await mkdtemp(join(tmpdir(), "rqo-krew-"))),
      await buildPlugin(await mkdtemp(join(tmpdir(), "rqo-krew-"))),
    ];
    assert.equal(a.sha256, b.sha256, "two builds of the same tree give the same archive");
    const committed = parse(await readFile(KREW_MANIFEST, "utf8")) as KrewPlugin;
    const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string };
    assert.equal(committed.metadata.name, "rqlite");
    assert.equal(committed.spec.version, `v${pkg.version}`);
    // The sha256 is the archive's at the last `npm run build:plugin`; everything else must match.
    const platform = committed.spec.platforms[0]!;
    assert.match(platform.sha256, /^[0-9a-f]{64}$/);
    assert.equal(await readFile(KREW_MANIFEST, "utf8"), krewManifest(pkg.version, platform.sha256));
    const { stdout: listing } = await exec("tar", ["tzf", a.archive]);
    assert.deepEqual(
      listing.trim().split("\n"),
      platform.files.map((f) => f.from),
    );
    assert.ok(listing.includes(platform.bin));
    const { stdout } = await exec(a.bundle, ["version", "--help"]);
    assert.match(stdout, /^Usage: kubectl rqlite version /m);
  });
});
