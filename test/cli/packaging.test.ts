// How the plugin reaches users: `npm install -g` of this package (bin entries), and krew (one
// executable per platform in a reproducible archive, and the manifest that names them).
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parse } from "yaml";
import { buildPlugin, hostTargets, KREW_MANIFEST, krewManifest, TARGETS } from "../../cli/bundle.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const exec = promisify(execFile);

interface KrewPlatform {
  selector: { matchLabels: { os: string; arch: string } };
  uri: string;
  sha256: string;
  bin: string;
  files: Array<{ from: string }>;
}
interface KrewPlugin {
  metadata: { name: string };
  spec: { version: string; platforms: KrewPlatform[] };
}

describe("kubectl rqlite packaging", function () {
  this.timeout(600_000);

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

  it("builds this machine's single executable reproducibly; it runs with no node on PATH", async () => {
    const [a, b] = [
      await buildPlugin(await mkdtemp(join(tmpdir(), "rqo-krew-")), hostTargets()),
      await buildPlugin(await mkdtemp(join(tmpdir(), "rqo-krew-")), hostTargets()),
    ];
    assert.equal(a.archives.length, 1, `one krew target for ${process.platform}-${process.arch}`);
    assert.equal(a.archives[0]!.sha256, b.archives[0]!.sha256, "two builds of the same tree give the same archive");
    const { stdout: listing } = await exec("tar", ["tzf", a.archives[0]!.archive]);
    assert.deepEqual(listing.trim().split("\n"), ["kubectl-rqlite"]);
    // An empty environment: no PATH to a node, no NODE_OPTIONS; the executable carries its own.
    const empty = await mkdtemp(join(tmpdir(), "rqo-no-node-"));
    const { stdout, stderr } = await exec(a.executable!, ["version", "--help"], { env: { PATH: empty } });
    assert.match(stdout, /^Usage: kubectl rqlite version /m);
    assert.equal(stderr, "", "no warning (experimental SEA, deprecated punycode) on start");
    // The bundled script runs on Node as well (cli/kubectl-rqlite's fallback outside a checkout).
    const script = await exec(process.execPath, [a.script, "version", "--help"]);
    assert.match(script.stdout, /^Usage: kubectl rqlite version /m);
  });

  it("deploy/krew/rqlite.yaml names an archive per platform, with a sha256 each", async () => {
    const committed = parse(await readFile(KREW_MANIFEST, "utf8")) as KrewPlugin;
    const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string };
    assert.equal(committed.metadata.name, "rqlite");
    assert.equal(committed.spec.version, `v${pkg.version}`);
    const platforms = committed.spec.platforms.map(
      (p) => `${p.selector.matchLabels.os}/${p.selector.matchLabels.arch}`,
    );
    assert.deepEqual(platforms.sort(), ["darwin/amd64", "darwin/arm64", "linux/amd64", "linux/arm64"]);
    // The sha256s are the archives' at the last `npm run build:plugin`; everything else must match.
    const shas = TARGETS.map((target) => {
      const p = committed.spec.platforms.find(
        (q) => q.selector.matchLabels.os === target.os && q.selector.matchLabels.arch === target.arch,
      )!;
      assert.match(p.sha256, /^[0-9a-f]{64}$/);
      return { target, sha256: p.sha256 };
    });
    assert.equal(await readFile(KREW_MANIFEST, "utf8"), krewManifest(pkg.version, shas));
    for (const p of committed.spec.platforms)
      assert.deepEqual(
        p.files.map((f) => f.from),
        [p.bin],
      );
  });
});
