// A Secret's files laid out as the kubelet lays out a secret volume: each version in a timestamped
// folder, `..data` a symlink to the current one swapped by an atomic rename, and every key a
// symlink through `..data`. A reader therefore sees the old pair or the new one, never a mix,
// and the webhook under test reloads from exactly what it would see in a Pod.
import { mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export class SecretVolume {
  private version = 0;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Writes a new version of the files and switches to it in one rename. */
  update(files: Record<string, Buffer>): void {
    const folder = `..${Date.now()}_${++this.version}`;
    mkdirSync(join(this.dir, folder));
    for (const [key, content] of Object.entries(files))
      writeFileSync(join(this.dir, folder, key), content, { mode: 0o600 });
    let previous: string | undefined;
    try {
      previous = readlinkSync(join(this.dir, "..data"));
    } catch {
      previous = undefined;
    }
    symlinkSync(folder, join(this.dir, "..data_tmp"));
    renameSync(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
    if (previous === undefined) {
      for (const key of Object.keys(files)) symlinkSync(join("..data", key), join(this.dir, key));
    } else {
      rmSync(join(this.dir, previous), { recursive: true, force: true });
    }
  }
}
