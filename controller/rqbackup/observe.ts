// The I/O half before a backup attempt: which cluster, which node leads it and how to reach that
// node (scheme, CA, credentials, as its Pod runs now), and the target: S3 with its credentials,
// or a PVC (which must exist) for the Job that writes there. Anything that stops an
// attempt comes back as an AttemptFailure whose reason says what to do.
import type { V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import type { S3Client } from "@aws-sdk/client-s3";
import type { RqCluster } from "../../shared/index.js";
import {
  HTTP_PORT,
  LABEL_CLUSTER,
  LABEL_MANAGED_BY,
  MANAGER_NAME,
  operatorAuthSecretName,
} from "../../shared/names.js";
import { backupFileName, compactUtc, joinKey, s3BackupKey, s3Location } from "../../shared/backup-names.js";
import { RqliteClient } from "../rqlite/client.js";
import { clusterRqlite } from "../rqlite/adapter.js";
import type { KubeClient } from "../runtime/kubeClient.js";
import { objectPath } from "../runtime/paths.js";
import type { Writer } from "../runtime/writer.js";
import { assertOwnNode, httpTlsSecretOf, nodeAccess, runsWithAuth } from "../rqcluster/access.js";
import { keptCredentials, PASSWORD_KEY } from "../rqcluster/auth.js";
import { clusterView } from "../rqcluster/render/cluster.js";
import { connectionRefusal, credentialsFrom, newS3Client, type S3Credentials, type S3Gate } from "../rqcluster/s3.js";
import { nodeAddress, type Addressing } from "../rqcluster/render/pod.js";
import { pvcLocation, type SecretKey } from "./job.js";
import type { AttemptFailure } from "./plan.js";
import type { RqBackup } from "./types.js";

export interface ObserveDeps {
  client: KubeClient;
  writer: Writer;
  s3: S3Gate;
  addressing: Addressing;
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
  // A list narrowed to the one name: the role lists claims but has no get.
  const claims = await deps.client.request<{ items: V1PersistentVolumeClaim[] }>({
    method: "GET",
    path: objectPath({ apiVersion: "v1", resource: "persistentvolumeclaims", namespace }),
    query: { fieldSelector: `metadata.name=${pvc.claimName}` },
    timeoutMs: 30_000,
  });
  const claim = claims.items[0];
  if (!claim) return permanent(`${where} does not exist; create the claim, then create a new RqBackup`);
  if (claim.metadata?.deletionTimestamp) {
    return permanent(`${where} is being deleted; use another claim and create a new RqBackup`);
  }
  // A claim still Pending is no blocker: with a WaitForFirstConsumer StorageClass it binds only
  // once the Job's Pod is scheduled. A Pod that cannot be placed shows in status.reason.
  const leader = await observeLeader(deps, b);
  if ("permanent" in leader) return leader;
  const format = spec.format ?? "binary";
  const compress = spec.compress ?? true;
  const created = new Date(b.metadata!.creationTimestamp ?? 0);
  const file = joinKey(
    pvc.path ?? "",
    backupFileName(`${namespace}-${b.metadata!.name}-${compactUtc(created)}`, format, compress),
  );
  return { ...leader, kind: "pvc", claimName: pvc.claimName, file, location: pvcLocation(pvc.claimName, file) };
}

export async function observeSource(deps: ObserveDeps, b: RqBackup): Promise<Source | AttemptFailure> {
  const namespace = b.metadata!.namespace!;
  const spec = b.spec!;
  const s3 = spec.destination.s3;
  if (!s3) return permanent("spec.destination has neither s3 nor pvc; set one and create a new RqBackup");
  // Before any Secret is read: what the policy refuses never costs a read or a connection.
  const refusal = connectionRefusal(deps.s3, namespace, s3, "spec.destination.s3");
  if (refusal) return permanent(`${refusal}; then create a new RqBackup`);
  let credentials: S3Credentials | undefined;
  const ref = s3.credentialsSecret;
  if (ref) {
    const read = credentialsFrom(
      await deps.writer.readSecret(b, ref.name),
      {
        accessKeyIdKey: ref.accessKeyIdKey ?? "AWS_ACCESS_KEY_ID",
        secretAccessKeyKey: ref.secretAccessKeyKey ?? "AWS_SECRET_ACCESS_KEY",
      },
      `Secret ${namespace}/${ref.name} (spec.destination.s3.credentialsSecret)`,
    );
    // The Secret may still be on its way (applied in the same kubectl apply): try again. A Secret
    // without the key will not grow one by itself.
    if ("problem" in read)
      return read.problem === "no-secret"
        ? transient(read.message)
        : permanent(`${read.message}; add it and create a new RqBackup`);
    credentials = read;
  }
  const leader = await observeLeader(deps, b);
  if ("permanent" in leader) return leader;

  const format = spec.format ?? "binary";
  const compress = spec.compress ?? true;
  // The creation time, not the attempt's: a retry writes the same key, never a second object.
  const created = new Date(b.metadata!.creationTimestamp ?? 0);
  const key = s3BackupKey(s3.path, namespace, b.metadata!.name!, format, compress, created);
  const region = s3.region ?? "us-east-1";
  return {
    ...leader,
    kind: "s3",
    // A multipart upload's part may take long on a slow link; the attempt is retried with backoff.
    s3: newS3Client(
      deps.s3,
      { region, endpoint: s3.endpoint, forcePathStyle: s3.forcePathStyle ?? false },
      credentials,
      120_000,
    ),
    bucket: s3.bucket,
    key,
    location: s3Location(s3.bucket, key),
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    region,
    ...(ref ? { credentialsSecret: `${namespace}/${ref.name}` } : {}),
  };
}

/** The backup's cluster, its leader, and how to reach that leader as its Pod runs now. */
async function observeLeader(deps: ObserveDeps, b: RqBackup): Promise<LeaderSource | AttemptFailure> {
  const namespace = b.metadata!.namespace!;
  const spec = b.spec!;
  const cluster = deps.cluster(namespace, spec.cluster);
  if (!cluster) {
    return transient(
      `RqCluster ${namespace}/${spec.cluster} (spec.cluster) does not exist; create it or fix spec.cluster`,
    );
  }
  // No node runs while hibernated, and none will until a person wakes it: waiting cannot help.
  if (cluster.spec?.hibernate) {
    return permanent(
      `RqCluster ${namespace}/${spec.cluster} (spec.cluster) is hibernated (spec.hibernate: true): no node runs to back up from; wake it, then create a new RqBackup`,
    );
  }
  const c = clusterView(cluster);
  const pods = await deps.client.request<{ items: V1Pod[] }>({
    method: "GET",
    path: objectPath({ apiVersion: "v1", resource: "pods", namespace }),
    query: { labelSelector: `${LABEL_MANAGED_BY}=${MANAGER_NAME},${LABEL_CLUSTER}=${c.name}` },
    timeoutMs: 30_000,
  });
  const byName = new Map(pods.items.map((p) => [p.metadata!.name!, p]));
  const auth = pods.items.some(runsWithAuth)
    ? keptCredentials((await deps.writer.readSecret(b, operatorAuthSecretName(c.name)))?.data)
    : undefined;
  const cas = new Map<string, string>();
  for (const name of new Set(pods.items.map(httpTlsSecretOf).filter((n): n is string => Boolean(n)))) {
    const ca = (await deps.writer.readSecret(b, name))?.data["ca.crt"];
    if (ca) cas.set(name, ca);
  }
  const accessOf = (nodeId: string) => {
    assertOwnNode(c, nodeId);
    return nodeAccess(c, byName.get(nodeId), `${nodeAddress(c, nodeId, deps.addressing)}:${HTTP_PORT}`, cas, auth);
  };
  const running = pods.items
    .filter((p) => p.status?.podIP && !p.metadata?.deletionTimestamp)
    .map((p) => p.metadata!.name!);
  if (running.length === 0) return transient(`RqCluster ${namespace}/${c.name} has no running node to back up from`);
  const { view, problem } = await clusterRqlite(accessOf).leaderView(running);
  if (!view) return transient(`RqCluster ${namespace}/${c.name} has no rqlite leader to back up from: ${problem}`);
  const a = accessOf(view.leader);
  const url = `${a.https ? "https" : "http"}://${a.address}`;
  const rqlite = new RqliteClient(url, {
    nodeId: view.leader,
    ...(a.credentials ? { auth: a.credentials } : {}),
    ...(a.ca ? { tls: { ca: a.ca } } : {}),
  });
  const caSecret = a.ca ? (httpTlsSecretOf(byName.get(view.leader)) ?? c.spec.tls?.http?.secretName) : undefined;
  return {
    leader: view.leader,
    ...(view.leaderVersion ? { rqliteVersion: view.leaderVersion } : {}),
    rqlite,
    access: {
      url,
      ...(a.credentials
        ? {
            auth: {
              username: a.credentials.username,
              password: { secretName: operatorAuthSecretName(c.name), key: PASSWORD_KEY },
            },
          }
        : {}),
      ...(caSecret ? { ca: { secretName: caSecret, key: "ca.crt" } } : {}),
    },
  };
}

export const isFailure = (x: Source | PvcSource | AttemptFailure): x is AttemptFailure => "permanent" in x;
