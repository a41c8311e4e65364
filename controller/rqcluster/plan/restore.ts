// Pure decisions for spec.restore: what object (or folder) a restore source names, and whether
// an RqBackup can be restored at all. The I/O that checks the object is in ../restore.ts.
import { joinKey, LATEST_KEY, parseS3Location } from "../../../shared/index.js";
import type { ClusterRestoreSpec, RqBackup } from "../../../shared/types.generated.js";
import { credentialsOf, type S3Connection } from "../render/backup.js";

/** Where to look: one key, or the newest object under a folder. */
export type RestoreTarget = S3Connection & { describe: string } & ({ key: string } | { latestUnder: string });

/**
 * The target of spec.restore, or a problem a person must fix. `backup` is the RqBackup that
 * spec.restore.backup names, as read (undefined when it does not exist).
 */
export function restoreTarget(
  restore: ClusterRestoreSpec,
  namespace: string,
  backup: RqBackup | undefined,
): RestoreTarget | { problem: string } {
  if (restore.s3) {
    const s3 = restore.s3;
    const conn: S3Connection = {
      bucket: s3.bucket,
      ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
      region: s3.region ?? "us-east-1",
      forcePathStyle: s3.forcePathStyle ?? false,
      ...(s3.credentialsSecret ? { credentialsSecret: credentialsOf(s3.credentialsSecret) } : {}),
    };
    if (s3.key === LATEST_KEY) {
      const folder = joinKey(s3.path ?? "");
      const latestUnder = folder === "" ? "" : `${folder}/`;
      return { ...conn, latestUnder, describe: `the newest object under s3://${s3.bucket}/${latestUnder}` };
    }
    return { ...conn, key: s3.key, describe: `s3://${s3.bucket}/${s3.key}` };
  }
  const name = restore.backup;
  if (!name) return { problem: "spec.restore names no source: set backup or s3" };
  const where = `RqBackup ${namespace}/${name} (spec.restore.backup)`;
  if (!backup) return { problem: `${where} does not exist` };
  const phase = backup.status?.phase ?? "Pending";
  if (phase === "Failed")
    return { problem: `${where} Failed (${backup.status?.reason ?? "no reason given"}); name a Completed backup` };
  if (phase !== "Completed") return { problem: `${where} is ${phase}; the restore starts once it is Completed` };
  if ((backup.spec?.format ?? "binary") !== "binary")
    return {
      problem: `${where} has format ${backup.spec?.format}; only binary backups restore (rqlite's auto-restore loads an SQLite file)`,
    };
  const dest = backup.spec?.destination?.s3;
  const at = backup.status?.location ? parseS3Location(backup.status.location) : undefined;
  if (!dest || !at)
    return {
      problem: `${where} is not in S3 (location ${backup.status?.location ?? "unset"}); only S3 backups restore`,
    };
  return {
    bucket: at.bucket,
    ...(dest.endpoint ? { endpoint: dest.endpoint } : {}),
    region: dest.region ?? "us-east-1",
    forcePathStyle: dest.forcePathStyle ?? false,
    ...(dest.credentialsSecret ? { credentialsSecret: credentialsOf(dest.credentialsSecret) } : {}),
    key: at.key,
    describe: `${backup.status!.location} (RqBackup ${name})`,
  };
}
