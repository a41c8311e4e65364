// `npm run build:plugin`: the plugin as krew ships it, one executable per platform that needs no
// Node.js on the user's machine. esbuild bundles cli/main.ts and its dependencies into one
// CommonJS script (no node_modules, no TypeScript); Node's single-executable-application support
// turns it into a blob that postject injects into each platform's Node 24 binary, taken from the
// npm registry's distribution packages (hack/ensure-node.sh). Each archive is reproducible (fixed
// times and modes; the same Node build and blob give the same bytes), and the krew manifest
// beside them carries their sha256.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { build } from "esbuild";
import { unsign } from "macho-unsign";
import { inject } from "postject";
import { pack } from "tar-stream";
import { stringify } from "yaml";

const root = fileURLToPath(new URL("..", import.meta.url));
const exec = promisify(execFile);
export const KREW_MANIFEST = join(root, "deploy/krew/rqlite.yaml");
const HOMEPAGE = "https://github.com/rqlite-operator/rqlite-operator";
/** The executable inside each archive, as the krew manifest names it. */
export const ARCHIVE_BIN = "kubectl-rqlite";
/** Node's fuse string that marks a binary as carrying a SEA blob (its documented value). */
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
/** The bundled script's name, beside the executables and inside the blob. */
const MAIN = `${ARCHIVE_BIN}.cjs`;

export interface Target {
  /** krew's os and arch. */
  os: "linux" | "darwin";
  arch: "amd64" | "arm64";
  /** The npm registry's Node distribution package (node-<platform>) and its version. */
  nodePlatform: string;
  nodeVersion: string;
  /** More krew arches this archive serves. */
  alsoArches?: Array<"amd64" | "arm64">;
}

/**
 * What krew installs, by platform. The npm registry carries Node 24 for linux-x64, linux-arm64 and
 * darwin-x64 but no darwin-arm64 build newer than 18, so Apple silicon gets the x64 executable,
 * which macOS runs through Rosetta 2.
 */
export const TARGETS: Target[] = [
  { os: "linux", arch: "amd64", nodePlatform: "linux-x64", nodeVersion: "24.22.3" },
  { os: "linux", arch: "arm64", nodePlatform: "linux-arm64", nodeVersion: "24.22.3" },
  { os: "darwin", arch: "amd64", nodePlatform: "darwin-x64", nodeVersion: "24.18.1", alsoArches: ["arm64"] },
];

export interface PluginArchive {
  target: Target;
  /** The single executable. */
  executable: string;
  archive: string;
  sha256: string;
}

export interface PluginBuild {
  version: string;
  /** The bundled script, which `node` also runs (cli/kubectl-rqlite falls back to it). */
  script: string;
  /** This machine's executable, when it is one of the targets built: outDir/kubectl-rqlite. */
  executable?: string;
  archives: PluginArchive[];
  /** The krew manifest for these archives. */
  manifest: string;
}

/** This machine as a Node distribution platform name (linux-x64, darwin-arm64, ...). */
function hostPlatform(): string {
  return `${process.platform}-${process.arch}`;
}

/** The target this machine runs, for a build of its own executable only (the CLI tests). */
export function hostTargets(): Target[] {
  return TARGETS.filter((t) => t.nodePlatform === hostPlatform());
}

/** The node binary of `platform` at `version`, fetched once into the cache by hack/ensure-node.sh. */
async function nodeBinary(platform: string, version: string): Promise<string> {
  const { stdout } = await exec("bash", [join(root, "hack/ensure-node.sh"), platform, version], {
    maxBuffer: 1 << 20,
  }).catch((err: Error & { stderr?: string }) => {
    throw new Error(`node ${version} for ${platform}: ${err.stderr?.trim() || err.message}`, { cause: err });
  });
  return stdout.trim().split("\n").pop()!;
}

/**
 * Builds the script and, for each of `targets` (default: every one), the executable and its
 * archive into `outDir`; with every target, also the krew manifest for them.
 */
export async function buildPlugin(outDir: string, targets: Target[] = TARGETS): Promise<PluginBuild> {
  const { version } = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string };
  await mkdir(outDir, { recursive: true });
  const script = join(outDir, MAIN);
  await build({
    entryPoints: [join(root, "cli/main.ts")],
    outfile: script,
    bundle: true,
    platform: "node",
    // CommonJS: Node 24 runs only CommonJS as a single executable's main script.
    format: "cjs",
    target: "node22",
    legalComments: "none",
    logLevel: "warning",
    // Node's own punycode module is deprecated and warns on every start; whatwg-url asks for it
    // by the name the userland package also has.
    alias: { punycode: createRequire(import.meta.url).resolve("punycode/") },
    define: { "import.meta.url": "__plugin_url" },
    banner: {
      js: [
        "#!/usr/bin/env node",
        'const __plugin_url = require("node:url").pathToFileURL(__filename).href;',
        `globalThis.RQLITE_PLUGIN_VERSION = ${JSON.stringify(version)};`,
      ].join("\n"),
    },
  });
  await chmod(script, 0o755);

  const work = await mkdtemp(join(tmpdir(), "rqo-sea-"));
  try {
    // A blob is read by the Node version that made it, so one is made per version, by this
    // machine's build of that version. Without a code cache or snapshot it is the same for
    // every platform.
    const blobs = new Map<string, Promise<Buffer>>();
    const blobFor = (nodeVersion: string) => {
      let blob = blobs.get(nodeVersion);
      if (!blob) {
        blob = makeBlob(script, nodeVersion, join(work, nodeVersion));
        blobs.set(nodeVersion, blob);
      }
      return blob;
    };
    const archives: PluginArchive[] = [];
    for (const target of targets) {
      const dir = join(outDir, `${target.os}-${target.arch}`);
      await mkdir(dir, { recursive: true });
      const executable = join(dir, ARCHIVE_BIN);
      await writeExecutable(
        executable,
        await nodeBinary(target.nodePlatform, target.nodeVersion),
        target,
        await blobFor(target.nodeVersion),
      );
      const archive = join(outDir, archiveName(version, target));
      const data = await gzipped(await tarball({ [ARCHIVE_BIN]: await readFile(executable) }));
      await writeFile(archive, data);
      archives.push({ target, executable, archive, sha256: createHash("sha256").update(data).digest("hex") });
    }
    const host = archives.find((a) => a.target.nodePlatform === hostPlatform());
    let executable: string | undefined;
    if (host) {
      executable = join(outDir, ARCHIVE_BIN);
      await rm(executable, { force: true });
      await symlink(host.executable, executable);
    }
    const manifest = krewManifest(
      version,
      archives.map((a) => ({ target: a.target, sha256: a.sha256 })),
    );
    return { version, script, ...(executable ? { executable } : {}), archives, manifest };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function makeBlob(script: string, nodeVersion: string, dir: string): Promise<Buffer> {
  await mkdir(dir, { recursive: true });
  const node = await nodeBinary(hostPlatform(), nodeVersion);
  // The blob records its main script's path as given: a fixed relative one keeps it the same
  // whatever folder the build runs in.
  await copyFile(script, join(dir, MAIN));
  await writeFile(
    join(dir, "sea-config.json"),
    JSON.stringify({
      main: MAIN,
      output: "sea.blob",
      disableExperimentalSEAWarning: true,
      // Both would tie the blob to the platform that made it.
      useSnapshot: false,
      useCodeCache: false,
    }),
  );
  await exec(node, ["--experimental-sea-config", "sea-config.json"], { cwd: dir }).catch(
    (err: Error & { stderr?: string }) => {
      throw new Error(`node ${nodeVersion} --experimental-sea-config: ${err.stderr?.trim() || err.message}`, {
        cause: err,
      });
    },
  );
  return readFile(join(dir, "sea.blob"));
}

/** `node` with `blob` injected as its single-executable application, written to `path`. */
async function writeExecutable(path: string, node: string, target: Target, blob: Buffer): Promise<void> {
  await rm(path, { force: true });
  if (target.os === "darwin") {
    // The injection breaks the Node project's signature, and macOS kills a binary whose
    // signature does not match; an unsigned x64 binary runs.
    const unsigned = unsign(await readFile(node));
    await writeFile(path, unsigned ? Buffer.from(unsigned) : await readFile(node));
  } else await copyFile(node, path);
  await chmod(path, 0o755);
  await inject(path, "NODE_SEA_BLOB", blob, {
    sentinelFuse: SEA_FUSE,
    ...(target.os === "darwin" ? { machoSegmentName: "NODE_SEA" } : {}),
  });
}

export function archiveName(version: string, target: Target): string {
  return `kubectl-rqlite-v${version}-${target.os}-${target.arch}.tar.gz`;
}

/** A tar of `files`, every entry with the same time and mode, so equal inputs give equal bytes. */
async function tarball(files: Record<string, Buffer>): Promise<Buffer> {
  const tar = pack();
  for (const [name, content] of Object.entries(files))
    tar.entry({ name, mode: 0o755, mtime: new Date(0), uid: 0, gid: 0 }, content);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const gzipped = promisify(gzip);

/** krew's Plugin manifest for the release archives of `version`. */
export function krewManifest(version: string, archives: Array<{ target: Target; sha256: string }>): string {
  const header = [
    "# krew plugin manifest for `kubectl rqlite`, written by `npm run build:plugin` (cli/bundle.ts) with",
    "# the sha256 of each archive it built. Each archive holds one executable (Node.js 24 with the",
    "# plugin inside), so the plugin needs no Node.js on the machine. Try it before a release with:",
    `#   kubectl krew install --manifest=deploy/krew/rqlite.yaml --archive=dist/plugin/${archiveName(version, TARGETS[0]!)}`,
  ];
  const doc = {
    apiVersion: "krew.googlecontainertools.github.com/v1alpha2",
    kind: "Plugin",
    metadata: { name: "rqlite" },
    spec: {
      version: `v${version}`,
      homepage: HOMEPAGE,
      shortDescription: "Run rqlite clusters managed by the rqlite operator",
      description:
        "The rqlite operator's command line: an RqCluster's status on one screen (members, roles, " +
        "Raft lag, PVCs, events), SQL queries and statements, an interactive SQL shell, scale, " +
        "rolling restart, leadership transfer, pause/resume, backups and restores, and a redacted " +
        "support bundle. It reaches rqlite through the API server's pod proxy: no port-forward.",
      caveats: "Shell completion: source <(kubectl rqlite completion bash)",
      platforms: archives.flatMap(({ target, sha256 }) =>
        [target.arch, ...(target.alsoArches ?? [])].map((arch) => ({
          selector: { matchLabels: { os: target.os, arch } },
          uri: `${HOMEPAGE}/releases/download/v${version}/${archiveName(version, target)}`,
          sha256,
          files: [{ from: ARCHIVE_BIN, to: "." }],
          bin: ARCHIVE_BIN,
        })),
      ),
    },
  };
  return `${header.join("\n")}\n${stringify(doc, { lineWidth: 0 })}`;
}

// `npm run build:plugin`: into dist/plugin/, and the manifest into deploy/krew/.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildPlugin(join(root, "dist/plugin"));
  await writeFile(KREW_MANIFEST, out.manifest);
  for (const a of out.archives) console.log(`built ${a.archive} (sha256 ${a.sha256})`);
  console.log(`wrote ${KREW_MANIFEST}`);
}
