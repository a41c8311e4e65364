// Pure decisions for spec.restore: what object (or folder) a restore source names, and whether
// an RqBackup can be restored at all. The I/O that checks the object is in ../restore.ts.
import type { V1PersistentVolumeClaim } from "@kubernetes/client-node";
import { joinKey, LATEST_KEY, parseS3Location } from "../../../shared/index.js";
import { voterName } from "../../../shared/names.js";
import type { ClusterRestoreSpec, RqBackup } from "../../../shared/types.generated.js";
import { s3Connection, type S3Connection } from "../../access/s3Connection.js";
import type { ClusterView } from "../render/cluster.js";

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
    const conn = s3Connection(s3);
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
    ...s3Connection({ ...dest, bucket: at.bucket }),
    key: at.key,
    describe: `${backup.status!.location} (RqBackup ${name})`,
  };
}

/**
 * The founding voters' PVCs that are older than the cluster: kept (reclaimPolicy Retain) from an
 * earlier cluster of the same name and adopted. They hold that cluster's data and Raft state, and
 * rqlite loads no backup into a node with data, so such a cluster does not restore at all.
 */
export function adoptedFoundingVolumes(
  c: ClusterView,
  pvcs: readonly V1PersistentVolumeClaim[],
  bootstrapExpect: number,
): string[] {
  if (!c.createdAt) return [];
  const created = Date.parse(c.createdAt);
  const founding = new Set(Array.from({ length: bootstrapExpect }, (_, i) => voterName(c.name, i)));
  return pvcs
    .filter((p) => founding.has(p.metadata?.name ?? ""))
    .filter((p) => {
      const at = p.metadata?.creationTimestamp;
      // Timestamps have whole seconds: one made in the cluster's first second is its own.
      return at !== undefined && Date.parse(String(at instanceof Date ? at.toISOString() : at)) < created;
    })
    .map((p) => p.metadata!.name!)
    .sort();
}

/**
 * spec.restore is still to be loaded: it resolved, it is not done, and no founding volume was
 * adopted. Only then does a founding voter's new Pod start with -auto-restore.
 */
export function restorePending(
  c: ClusterView,
  restoreDone: boolean,
  pvcs: readonly V1PersistentVolumeClaim[],
  bootstrapExpect: number,
): boolean {
  return (
    c.spec.restore !== undefined &&
    c.restore !== undefined &&
    !restoreDone &&
    adoptedFoundingVolumes(c, pvcs, bootstrapExpect).length === 0
  );
}
