// spec.restore.s3.before, decided purely: which backup in a folder was the newest one taken
// strictly before a time. The time comes from the object's name, as the operator and rqlite write
// it, never from S3's LastModified: a copied or re-uploaded object keeps its name but not its
// modification time. No I/O, no clock; table-tested in
// test/unit/controller/rqcluster/backup/before.test.ts.
import { validCalendarTime } from "../../../shared/backup-names.js";
import type { StoredObject } from "../../access/s3.js";

/** Which writer's name the timestamp was read from. */
export type StampForm = "rqlite auto-backup" | "RqBackup";

/** A backup whose name carries its time. */
export interface DatedBackup {
  key: string;
  /** Epoch ms of the start of the name's second (UTC). */
  takenAt: number;
  form: StampForm;
  lastModified: number;
}

// rqlite's auto-backup with timestamp: <YYYYMMDDHHMMSS>_<name> (auto/aws TimestampedPath).
const RQLITE_NAME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})_./;
// An RqBackup's object: <namespace>-<name>-<YYYYMMDDTHHMMSSZ>.sqlite[.gz] (shared/backup-names.ts
// s3BackupKey). Its sql dumps (.sql[.gz]) are no database rqlite can load, so they never match.
const RQBACKUP_NAME = /^.+-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z\.sqlite(\.gz)?$/;
// rqlited expands $NAME in the auto-restore file the key is written into, and a control
// character has no business in a backup's name: such objects are left alone, whatever they say.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[$\u0000-\u001f\u007f]/;

/** The time in a backup's file name (the key's last segment), or undefined when it has none. */
export function stampOf(name: string): { takenAt: number; form: StampForm } | undefined {
  if (UNSAFE.test(name)) return undefined;
  for (const [re, form] of [
    [RQLITE_NAME, "rqlite auto-backup"],
    [RQBACKUP_NAME, "RqBackup"],
  ] as const) {
    const m = re.exec(name);
    if (!m) continue;
    const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    // 20261399999999_x is no time: left alone rather than read as some other one.
    if (!validCalendarTime(y, mo, d, h, mi, s)) return undefined;
    return { takenAt: Date.UTC(y, mo - 1, d, h, mi, s), form };
  }
  return undefined;
}

/** The backups directly in `folder` (a prefix ending in "/", or "" for the bucket's root), with their times. */
export function datedBackups(objects: readonly StoredObject[], folder: string): DatedBackup[] {
  return objects.flatMap((o) => {
    if (!o.key.startsWith(folder)) return [];
    const name = o.key.slice(folder.length);
    // Deeper objects belong to another folder's backups (another cluster's, often).
    if (name.includes("/")) return [];
    const stamp = stampOf(name);
    return stamp ? [{ key: o.key, lastModified: o.lastModified, ...stamp }] : [];
  });
}

export type BeforeChoice =
  | { chosen: DatedBackup; why: string }
  /** None qualifies: what a person must know to pick another time or folder. */
  | { problem: string };

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, "Z");

/**
 * The newest backup in `folder` taken strictly before `beforeMs`. A name's stamp has whole
 * seconds, and the backup was taken at some point of that second, so it qualifies only when the
 * whole second ended by `beforeMs`: 11:59:59 qualifies for 12:00:00Z, 12:00:00 does not (it may
 * hold a write of 12:00:00.4). Ties (one second, two objects) go to the one S3 modified last,
 * then to the greater key, so every reconcile picks the same. `where` names the folder in words.
 */
export function newestBefore(
  objects: readonly StoredObject[],
  folder: string,
  beforeMs: number,
  where: string,
): BeforeChoice {
  const dated = datedBackups(objects, folder);
  const at = iso(beforeMs);
  if (dated.length === 0)
    return {
      problem: `no object directly in ${where} has a backup's timestamp in its name (rqlite's YYYYMMDDHHMMSS_<name>, or an RqBackup's <namespace>-<name>-YYYYMMDDTHHMMSSZ.sqlite[.gz]), so none can be chosen for before ${at}`,
    };
  const qualifying = dated
    .filter((b) => b.takenAt + 1000 <= beforeMs)
    .sort((a, b) => b.takenAt - a.takenAt || b.lastModified - a.lastModified || (a.key < b.key ? 1 : -1));
  const chosen = qualifying[0];
  if (!chosen) {
    const oldest = Math.min(...dated.map((b) => b.takenAt));
    return {
      problem: `none of the ${dated.length} backups in ${where} was taken before ${at}: the oldest is from ${iso(oldest)}`,
    };
  }
  const later = dated.length - qualifying.length;
  return {
    chosen,
    why: `the newest of ${qualifying.length} backups in ${where} taken before ${at} (${later} later left out): ${chosen.key}, ${chosen.form} of ${iso(chosen.takenAt)}`,
  };
}
