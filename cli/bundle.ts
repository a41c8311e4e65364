// `npm run build:plugin`: the plugin as krew ships it. esbuild bundles cli/main.ts and its
// dependencies into one ESM file that needs only Node.js (no node_modules, no TypeScript), which
// also starts several times faster than the TypeScript through tsx. The archive is reproducible
// (fixed times and modes), and the krew manifest beside it carries its sha256.
import { createHash } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { pack } from "tar-stream";
import { stringify } from "yaml";

const root = fileURLToPath(new URL("..", import.meta.url));
export const KREW_MANIFEST = join(root, "deploy/krew/rqlite.yaml");
const HOMEPAGE = "https://github.com/rqlite-operator/rqlite-operator";
/** The binaries inside the archive, as the krew manifest names them. */
export const ARCHIVE_BIN = "kubectl-rqlite";

export interface PluginBuild {
  version: string;
  /** The single-file plugin. */
  bundle: string;
  archive: string;
  sha256: string;
  manifest: string;
}

export async function buildPlugin(outDir: string): Promise<PluginBuild> {
  const { version } = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string };
  await mkdir(outDir, { recursive: true });
  const bundle = join(outDir, ARCHIVE_BIN);
  await build({
    entryPoints: [join(root, "cli/main.ts")],
    outfile: bundle,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    legalComments: "none",
    logLevel: "warning",
    // Some dependencies are CommonJS and call require(); an ESM bundle has to provide it.
    banner: {
      js: [
        "#!/usr/bin/env node",
        'import { createRequire as __createRequire } from "node:module";',
        "const require = __createRequire(import.meta.url);",
        `globalThis.RQLITE_PLUGIN_VERSION = ${JSON.stringify(version)};`,
      ].join("\n"),
    },
  });
  await chmod(bundle, 0o755);
  const files = { [ARCHIVE_BIN]: await readFile(bundle) };
  const archive = join(outDir, `kubectl-rqlite-v${version}.tar.gz`);
  const data = gzipSync(await tarball(files), { level: 9 });
  await writeFile(archive, data);
  const sha256 = createHash("sha256").update(data).digest("hex");
  const manifest = krewManifest(version, sha256);
  await writeFile(join(outDir, "rqlite.yaml"), manifest);
  return { version, bundle, archive, sha256, manifest };
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

/** krew's Plugin manifest for the release archive of `version`. */
export function krewManifest(version: string, sha256: string): string {
  const header = [
    "# krew plugin manifest for `kubectl rqlite`, written by `npm run build:plugin` (cli/bundle.ts) with",
    "# the sha256 of the archive it built. The plugin is one JavaScript file for every platform; it",
    "# needs Node.js >= 20.19 on PATH. Try it before a release with:",
    `#   kubectl krew install --manifest=deploy/krew/rqlite.yaml --archive=dist/plugin/kubectl-rqlite-v${version}.tar.gz`,
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
        "rolling restart, leadership transfer, pause/resume and a redacted support bundle. It " +
        "reaches rqlite through the API server's pod proxy: no port-forward.",
      caveats: "Needs Node.js >= 20.19 on PATH. Shell completion: source <(kubectl rqlite completion bash)",
      platforms: [
        {
          selector: { matchExpressions: [{ key: "os", operator: "In", values: ["linux", "darwin"] }] },
          uri: `${HOMEPAGE}/releases/download/v${version}/kubectl-rqlite-v${version}.tar.gz`,
          sha256,
          files: [{ from: ARCHIVE_BIN, to: "." }],
          bin: ARCHIVE_BIN,
        },
      ],
    },
  };
  return `${header.join("\n")}\n${stringify(doc, { lineWidth: 0 })}`;
}

// `npm run build:plugin`: into dist/plugin/, and the manifest into deploy/krew/.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildPlugin(join(root, "dist/plugin"));
  await writeFile(KREW_MANIFEST, out.manifest);
  console.log(`built ${out.archive} (sha256 ${out.sha256}); wrote ${KREW_MANIFEST}`);
}
