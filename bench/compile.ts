// Compiles bench subjects with tsc, as the container image runs them. Running them through tsx
// would measure tsx instead: its keepNames transform wraps every closure (the webhook's
// validation rules, the controller's handlers) and costs a large share of the throughput.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Compiles `entries` and what they import into `outDir`, with the project's compiler options. */
export async function compile(root: string, outDir: string, entries: string[]): Promise<void> {
  const config = join(outDir, "tsconfig.json");
  await mkdir(outDir, { recursive: true });
  await writeFile(
    config,
    JSON.stringify({
      extends: join(root, "tsconfig.json"),
      compilerOptions: { outDir, sourceMap: false },
      files: entries,
      include: [],
    }),
  );
  const child = spawn(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", config], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const [code] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  if (code !== 0) throw new Error(`tsc failed to compile ${entries.join(", ")}:\n${output}`);
}
