// The RqBackups of a cluster, read and created the way kubectl does, and the pure parts of the
// `backup` command: the destination it copies from spec.backup, the default name, the one-line
// state of a backup.
import { posix } from "node:path";
import { BACKUP_KIND, BACKUP_PLURAL, compactUtc } from "../shared/backup-names.js";
import { API_VERSION } from "../shared/names.js";
import { objectPath } from "../controller/runtime/paths.js";
import type { RqBackup, RqCluster, S3Destination } from "../shared/types.generated.js";
import { CliError, kubeFailure } from "./errors.js";
import type { Kube } from "./kube.js";

export const backupsPath = (namespace: string, name?: string) =>
  objectPath({ apiVersion: API_VERSION, resource: BACKUP_PLURAL, namespace, ...(name ? { name } : {}) });

/**
 * The RqBackups whose spec.cluster is `cluster`, oldest first. `error` says why they could not be
 * listed (RBAC, say), so that `status` still shows the rest; a missing RqBackup CRD is no backups.
 */
export async function clusterBackups(kube: Kube, cluster: string): Promise<{ items: RqBackup[]; error?: string }> {
  try {
    const list = await kube.raw<{ items: RqBackup[] }>({
      method: "GET",
      path: backupsPath(kube.namespace),
      timeoutMs: 30_000,
    });
    const items = list.items
      .filter((b) => b.spec?.cluster === cluster)
      .sort((a, b) => created(a) - created(b) || (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
    return { items };
  } catch (err) {
    if ((err as { status?: number }).status === 404) return { items: [] };
    return {
      items: [],
      error: kubeFailure(err, `list the RqBackups of namespace ${kube.namespace}`, kube.server).message,
    };
  }
}

const created = (b: RqBackup) => new Date(b.metadata?.creationTimestamp ?? 0).getTime();

export async function getBackup(kube: Kube, name: string): Promise<RqBackup | undefined> {
  return kube.find<RqBackup>(`get ${BACKUP_KIND} ${kube.namespace}/${name}`, {
    method: "GET",
    path: backupsPath(kube.namespace, name),
  });
}

export async function createBackup(kube: Kube, backup: RqBackup): Promise<RqBackup> {
  const name = backup.metadata?.name ?? "";
  try {
    return await kube.raw<RqBackup>({
      method: "POST",
      path: backupsPath(kube.namespace),
      body: backup,
      timeoutMs: 30_000,
    });
  } catch (err) {
    if ((err as { status?: number }).status === 409)
      throw new CliError(
        `cannot create ${BACKUP_KIND} ${kube.namespace}/${name}: one of that name exists already (an RqBackup is immutable); pick another --name`,
      );
    throw kubeFailure(err, `create ${BACKUP_KIND} ${kube.namespace}/${name}`, kube.server);
  }
}

/**
 * The destination of a backup copied from the cluster's spec.backup: the same bucket, server and
 * credentials, in the folder of its object key (rqlite's scheduled uploads sit beside it; the
 * operator's retention touches only those). Undefined when the cluster has no spec.backup.
 */
export function destinationFromSpec(rq: RqCluster): S3Destination | undefined {
  const s3 = rq.spec?.backup?.s3;
  if (!s3) return undefined;
  const folder = posix.dirname(s3.path);
  return {
    bucket: s3.bucket,
    path: folder === "." || folder === "/" ? "" : folder,
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    ...(s3.region ? { region: s3.region } : {}),
    ...(s3.forcePathStyle !== undefined ? { forcePathStyle: s3.forcePathStyle } : {}),
    ...(s3.credentialsSecret ? { credentialsSecret: s3.credentialsSecret } : {}),
  };
}

/** <cluster>-<yyyymmddthhmmssz>: unique per second, a valid object name, sorted by time. */
export const defaultBackupName = (cluster: string, at: Date): string => `${cluster}-${compactUtc(at).toLowerCase()}`;

/** "Running (attempt 2: <reason>)" and the like, for a progress line. */
export function backupProgress(b: RqBackup): string {
  const s = b.status ?? {};
  const phase = s.phase ?? "Pending";
  const attempt = s.attempts ? ` (attempt ${s.attempts}${s.reason && phase !== "Failed" ? `: ${s.reason}` : ""})` : "";
  return `${b.metadata?.name}: ${phase}${attempt}`;
}

/** Sizes as kubectl and people read them: 512B, 12.3KiB, 1.5GiB. */
export function humanBytes(n: number | undefined): string {
  if (n === undefined) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n}B` : `${v.toFixed(v < 10 ? 1 : 0)}${units[i]}`;
}
