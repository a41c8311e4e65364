// What a one-shot backup (RqBackup) wrote, checked as a user would check it: the bytes against
// the status's size and sha256, the file opened with the sqlite3 command (a `sql` dump loaded
// first), its integrity check, its items equal to the cluster's up to the backup's last id (rows
// and the checksum of SELECT * ... ORDER BY id), and every row acknowledged before the backup
// was created in it. Where the bytes come from (S3, a PV folder) is the caller's.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import type { RqliteClient } from "../../controller/rqlite/client.js";
import type { RqBackupStatus } from "../../controller/rqbackup/types.js";
import { ROWS_TABLE, type AckedRow } from "./rows.js";

const run = promisify(execFile);

export const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

/** The rows of `table` as sqlite3 prints them from a database file. */
export async function fileRows(file: string, table: string, order: string): Promise<string[]> {
  const { stdout } = await run("sqlite3", [file, `SELECT * FROM ${table} ORDER BY ${order}`], { maxBuffer: 1 << 28 });
  return stdout.trim() === "" ? [] : stdout.trim().split("\n");
}

/** The cluster's `items` up to id `maxId` (strong read through `leader`), in sqlite3's format. */
export async function clusterItems(leader: RqliteClient, maxId: number): Promise<string[]> {
  const rows = await leader.query([`SELECT id, v FROM items WHERE id <= ? ORDER BY id`, maxId], {
    level: "strong",
    timeoutMs: 60_000,
  });
  return rows.map((r) => `${String(r.id)}|${String(r.v)}`);
}

export interface BackupFileCheck {
  /** The `items` rows in the backup. */
  items: number;
  /** sha256 of those rows as sqlite3 prints them. */
  checksum: string;
  /** The acknowledged rows in the backup. */
  ackedRows: number;
}

export interface BackupFile {
  /** Names the files written into `dir`. */
  label: string;
  /** What was downloaded or read, as stored. */
  body: Buffer;
  /** Where the bytes came from, in the messages: "the object", "the file". */
  what: string;
  status: RqBackupStatus;
  format: "binary" | "sql";
  compress: boolean;
  /** The rows acknowledged before the backup was created. */
  ackedBefore: AckedRow[];
  /** A scratch folder. */
  dir: string;
  /** The cluster's items up to an id, as `clusterItems` reads them. */
  itemsUpTo(maxId: number): Promise<string[]>;
}

export async function checkBackupFile(b: BackupFile): Promise<BackupFileCheck> {
  assert.equal(b.body.length, b.status.size, `status.size = ${b.what}'s bytes`);
  assert.equal(sha256(b.body), b.status.sha256, `status.sha256 = ${b.what}'s sha256`);
  const raw = b.compress ? gunzipSync(b.body) : b.body;
  const file = join(b.dir, `${b.label}.sqlite`);
  if (b.format === "sql") {
    await writeFile(join(b.dir, `${b.label}.sql`), raw);
    await run("sqlite3", [file, `.read ${join(b.dir, `${b.label}.sql`)}`]);
  } else await writeFile(file, raw);
  assert.equal((await run("sqlite3", [file, "PRAGMA integrity_check"])).stdout.trim(), "ok");
  const items = await fileRows(file, "items", "id");
  const maxId = Number(items.at(-1)!.split("|")[0]);
  const expected = await b.itemsUpTo(maxId);
  assert.equal(items.length, expected.length, "rows in the backup = rows in the cluster up to its last id");
  const checksum = sha256(items.join("\n"));
  assert.equal(checksum, sha256(expected.join("\n")), "checksum of SELECT * FROM items ORDER BY id");
  const backedUp = new Set((await fileRows(file, ROWS_TABLE, "v")).map((l) => l.split("|")[0]));
  const missing = b.ackedBefore.filter((r) => !backedUp.has(r.value));
  assert.deepEqual(missing, [], "every row acknowledged before the backup was created is in it");
  return { items: items.length, checksum, ackedRows: backedUp.size };
}
