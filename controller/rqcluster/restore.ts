// The I/O half of spec.restore: reads the RqBackup it names, and checks with S3 that the object
// is there and readable with the given credentials, before any Pod is created. "latest" is
// resolved here, once: the result is kept in the backup config Secret, so the founding voters
// all load the same object and later reconciles render the same Pods.
import type { RqBackup } from "../../shared/types.generated.js";
import { BACKUP_KIND, formatErrors, GROUP, s3Location, validateBackup } from "../../shared/index.js";
import type { Writer } from "../runtime/writer.js";
import { latestObject } from "./plan/backup.js";
import { restoreTarget } from "./plan/restore.js";
import type { ResolvedRestore } from "./render/backup.js";
import type { ClusterView } from "./render/cluster.js";
import { describeS3Error, headObject, listObjects, s3ClientFor, type S3Gate } from "../access/s3.js";

export type ReadBackup = (namespace: string, name: string) => Promise<RqBackup | undefined>;
export type ListBackups = (namespace: string) => Promise<RqBackup[]>;

export async function resolveRestore(
  deps: { writer: Writer; s3: S3Gate; readBackup?: ReadBackup },
  c: ClusterView,
): Promise<{ resolved: ResolvedRestore } | { problem: string }> {
  const spec = c.spec.restore!;
  let backup: RqBackup | undefined;
  if (spec.backup) {
    if (!deps.readBackup) return { problem: "this controller cannot read RqBackups" };
    try {
      backup = await deps.readBackup(c.namespace, spec.backup);
    } catch (err) {
      return { problem: `reading RqBackup ${c.namespace}/${spec.backup}: ${(err as Error).message}` };
    }
    // The RqBackup's own names are read next (its credentials Secret): judged first, as its webhook does.
    const invalid = backup ? validateBackup(backup, deps.s3.policy).errors : [];
    if (invalid.length > 0)
      return {
        problem: `spec.restore.backup names an invalid ${formatErrors(`${BACKUP_KIND}.${GROUP}`, spec.backup, invalid)}`,
      };
  }
  const target = restoreTarget(spec, c.namespace, backup);
  if ("problem" in target) return target;
  const field = spec.backup
    ? `RqBackup ${spec.backup}'s destination.s3.credentialsSecret`
    : "spec.restore.s3.credentialsSecret";
  let client;
  try {
    client = await s3ClientFor(deps.writer, deps.s3, c.self, target, field);
  } catch (err) {
    return { problem: describeS3Error(err, `restore source ${target.describe}`, target.endpoint) };
  }
  try {
    let key: string;
    if ("latestUnder" in target) {
      const newest = latestObject(await listObjects(client, target.bucket, target.latestUnder));
      if (!newest) return { problem: `restore source ${target.describe}: there is no object there` };
      key = newest.key;
    } else {
      key = target.key;
    }
    await headObject(client, target.bucket, key);
    const { describe: _d, ...conn } = target;
    const { latestUnder: _l, key: _k, ...rest } = conn as typeof conn & { latestUnder?: string; key?: string };
    return { resolved: { ...rest, key, location: s3Location(target.bucket, key) } };
  } catch (err) {
    return { problem: describeS3Error(err, `restore source ${target.describe}`, target.endpoint) };
  } finally {
    client.destroy();
  }
}
