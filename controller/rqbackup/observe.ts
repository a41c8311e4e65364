// The I/O half before a backup attempt: which cluster, which node leads it and how to reach that
// node (scheme, CA, credentials, as its Pod runs now), and the target: S3 with its credentials,
// or a PVC (which must exist) for the Job that writes there. Anything that stops an
// attempt comes back as an AttemptFailure whose reason says what to do.
import type { V1Pod } from "@kubernetes/client-node";
import type { S3Client } from "@aws-sdk/client-s3";
import type { RqCluster } from "../../shared/index.js";
import { API_VERSION, LABEL_CLUSTER, LABEL_MANAGED_BY, MANAGER_NAME, PLURAL } from "../../shared/names.js";
import { backupFileName, compactUtc, joinKey, s3BackupKey, s3Location } from "../../shared/backup-names.js";
import { RqliteClient } from "../rqlite/client.js";
import type { KubeClient } from "../runtime/kubeClient.js";
import { objectPath } from "../runtime/paths.js";
import type { Writer } from "../runtime/writer.js";
import type { Addressing } from "../access/clusterView.js";
import { reachLeader } from "../access/cluster.js";
import { S3AccessError, s3ClientFor, type S3Gate } from "../access/s3.js";
import { s3Connection } from "../access/s3Connection.js";
import { pvcLocation } from "../../shared/backup-names.js";
import { readClaim } from "../access/claim.js";
import type { SecretKey } from "./job.js";
import type { AttemptFailure } from "./plan.js";
import type { RqBackup } from "./types.js";

export interface ObserveDeps {
  client: KubeClient;
  writer: Writer;
  s3: S3Gate;
  addressing: Addressing;
  /** The last ca.crt read from each tls.http Secret, shared with the RqCluster controller (see readCas). */
  knownCas?: Map<string, string>;
  cluster(namespace: string, name: string): RqCluster | undefined;
}

/** The leader to back up from, and how to reach it. */
export interface LeaderSource {
  leader: string;
  rqliteVersion?: string;
  /** A client for the leader itself, with a long limit: a backup takes as long as it takes. */
  rqlite: RqliteClient;
  /** The same access for a Job: Secrets by name and key, never their values. */
  access: { url: string; auth?: { username: string; password: SecretKey }; ca?: SecretKey };
}

/** Everything a `pvc` attempt needs: the Job mounts `claimName` and writes `file` in it. */
export interface PvcSource extends LeaderSource {
  kind: "pvc";
  claimName: string;
  file: string;
  location: string;
}

/** Everything an S3 attempt needs, once nothing stands in the way. */
export interface Source extends LeaderSource {
  kind?: "s3";
  s3: S3Client;
  bucket: string;
  key: string;
  location: string;
  /** The S3 endpoint, for reasons; unset for AWS S3 in `region`. */
  endpoint?: string;
  region: string;
  credentialsSecret?: string;
}

const transient = (reason: string): AttemptFailure => ({ reason, permanent: false });
const permanent = (reason: string): AttemptFailure => ({ reason, permanent: true });

/**
 * A `pvc` backup: the claim exists and is not being deleted, and the leader. The file name carries the creation time, so a retry writes the
 * same file and a recreated RqBackup of the same name does not overwrite the last one.
 */
export async function observePvcSource(deps: ObserveDeps, b: RqBackup): Promise<PvcSource | AttemptFailure> {
  const namespace = b.metadata!.namespace!;
  const spec = b.spec!;
  const pvc = spec.destination.pvc!;
  const where = `PersistentVolumeClaim ${namespace}/${pvc.claimName} (spec.destination.pvc.claimName)`;
  const claim = await readClaim(deps.client, namespace, pvc.claimName);
  if (!claim) return permanent(`${where} does not exist; create the claim, then create a new RqBackup`);
  if (claim.metadata?.deletionTimestamp) {
    return permanent(`${where} is being deleted; use another claim and create a new RqBackup`);
  }
  // A claim still Pending is no blocker: with a WaitForFirstConsumer StorageClass it binds only
  // once the Job's Pod is scheduled. A Pod that cannot be placed shows in status.reason.
  const leader = await observeLeader(deps, b);
  if ("permanent" in leader) return leader;
  const file = pvcBackupFile(b);
  return { ...leader, kind: "pvc", claimName: pvc.claimName, file, location: pvcLocation(pvc.claimName, file) };
}

/**
 * The file a `pvc` backup writes, inside its claim, from its spec and creation time: its Job
 * writes there and its verification reads there (the status is not trusted to name a file).
 */
export function pvcBackupFile(b: RqBackup): string {
  const spec = b.spec!;
  const created = new Date(b.metadata!.creationTimestamp ?? 0);
  return joinKey(
    spec.destination.pvc?.path ?? "",
    backupFileName(
      `${b.metadata!.namespace}-${b.metadata!.name}-${compactUtc(created)}`,
      spec.format ?? "binary",
      spec.compress ?? true,
    ),
  );
}

export async function observeSource(deps: ObserveDeps, b: RqBackup): Promise<Source | AttemptFailure> {
  const namespace = b.metadata!.namespace!;
  const spec = b.spec!;
  const s3 = spec.destination.s3;
  if (!s3) return permanent("spec.destination has neither s3 nor pvc; set one and create a new RqBackup");
  const conn = s3Connection(s3);
  let client: S3Client;
  try {
    // The policy before any Secret is read: what it refuses never costs a read or a connection.
    // A multipart upload's part may take long on a slow link; the attempt is retried with backoff.
    client = await s3ClientFor(deps.writer, deps.s3, b, conn, "spec.destination.s3.credentialsSecret", 120_000);
  } catch (err) {
    if (!(err instanceof S3AccessError)) throw err;
    // The Secret may still be on its way (applied in the same kubectl apply): try again. A Secret
    // without the key will not grow one by itself, nor will the policy change for this spec.
    if (err.problem === "no-secret") return transient(err.message);
    return permanent(`${err.message}; ${err.problem === "no-key" ? "add it and" : "then"} create a new RqBackup`);
  }
  const leader = await observeLeader(deps, b);
  if ("permanent" in leader) {
    client.destroy();
    return leader;
  }
  const format = spec.format ?? "binary";
  const compress = spec.compress ?? true;
  // The creation time, not the attempt's: a retry writes the same key, never a second object.
  const created = new Date(b.metadata!.creationTimestamp ?? 0);
  const key = s3BackupKey(s3.path, namespace, b.metadata!.name!, format, compress, created);
  return {
    ...leader,
    kind: "s3",
    s3: client,
    bucket: conn.bucket,
    key,
    location: s3Location(conn.bucket, key),
    ...(conn.endpoint ? { endpoint: conn.endpoint } : {}),
    region: conn.region,
    ...(conn.credentialsSecret ? { credentialsSecret: `${namespace}/${conn.credentialsSecret.name}` } : {}),
  };
}

/** The backup's cluster, its leader, and how to reach that leader as its Pod runs now. */
async function observeLeader(deps: ObserveDeps, b: RqBackup): Promise<LeaderSource | AttemptFailure> {
  const namespace = b.metadata!.namespace!;
  const cluster = deps.cluster(namespace, b.spec!.cluster);
  if (!cluster) {
    const named = `RqCluster ${namespace}/${b.spec!.cluster} (spec.cluster)`;
    // The cache may not have seen a cluster created just before its backup: the API server's own
    // list decides. Only a cluster it does not hold fails the backup at once; no retry creates it.
    const stored = await deps.client
      .request<{ items: unknown[] }>({
        method: "GET",
        path: objectPath({ apiVersion: API_VERSION, resource: PLURAL, namespace }),
        query: { fieldSelector: `metadata.name=${b.spec!.cluster}` },
        timeoutMs: 30_000,
      })
      .then((list) => list.items.length > 0);
    return stored
      ? transient(`${named} is not in the operator's cache yet`)
      : permanent(`${named} does not exist; create it or fix spec.cluster, then create a new RqBackup`);
  }
  // No node runs while hibernated, and none will until a person wakes it: waiting cannot help.
  if (cluster.spec?.hibernate) {
    return permanent(
      `RqCluster ${namespace}/${b.spec!.cluster} (spec.cluster) is hibernated (spec.hibernate: true): no node runs to back up from; wake it, then create a new RqBackup`,
    );
  }
  const reach = await reachLeader(
    {
      writer: deps.writer,
      addressing: deps.addressing,
      ...(deps.knownCas ? { knownCas: deps.knownCas } : {}),
      pods: async (c) =>
        (
          await deps.client.request<{ items: V1Pod[] }>({
            method: "GET",
            path: objectPath({ apiVersion: "v1", resource: "pods", namespace }),
            query: { labelSelector: `${LABEL_MANAGED_BY}=${MANAGER_NAME},${LABEL_CLUSTER}=${c.name}` },
            timeoutMs: 30_000,
          })
        ).items,
    },
    cluster,
  );
  if ("problem" in reach) return transient(`nothing to back up from: ${reach.problem}`);
  const a = reach.access;
  const url = `${a.https ? "https" : "http"}://${a.address}`;
  const rqlite = new RqliteClient(url, {
    nodeId: reach.leader,
    ...(a.credentials ? { auth: a.credentials } : {}),
    ...(a.ca ? { tls: { ca: a.ca } } : {}),
  });
  return {
    leader: reach.leader,
    ...(reach.rqliteVersion ? { rqliteVersion: reach.rqliteVersion } : {}),
    rqlite,
    access: {
      url,
      ...(a.credentials && reach.password
        ? { auth: { username: a.credentials.username, password: reach.password } }
        : {}),
      ...(reach.caSecret ? { ca: { secretName: reach.caSecret, key: "ca.crt" } } : {}),
    },
  };
}

export const isFailure = (x: Source | PvcSource | AttemptFailure): x is AttemptFailure => "permanent" in x;
