// The I/O half of a reconcile's first step: everything plan() needs, read from the caches, the
// user's Secrets and ConfigMaps, and rqlite. rqlite is reached per node the way that node runs
// now (its Pod's arguments: HTTPS or not, -auth or not), not the way the spec asks for, so that
// turning TLS or auth on or off never locks the operator out of nodes that have not rolled yet.
import type { KubernetesObject, V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import { leaderOf, leaderSecrets, reachCluster, type ClusterReach } from "../access/cluster.js";
import { pvcRestorePending, type LoaderObservation, type LoaderTarget } from "./backup/loader.js";
import { bootstrapExpectOf } from "./plan/facts.js";
import type { Writer } from "../runtime/writer.js";
import { canTransferLeadership, type ClusterRqlite } from "../rqlite/adapter.js";
import { readAuth, operatorCredentials } from "./auth.js";
import {
  listForRetention,
  observeBackup,
  readBackupReadings,
  readLeaderData,
  readRestoreCounts,
  type ListBackups,
  type ReadBackup,
  type ReadClaim,
  type RestoreRetries,
  type RetentionSchedule,
} from "./backup/observe.js";
import { withReadings, type Readings } from "./plan/facts.js";
import type { Need, Observed } from "./plan/types.js";
import type { Children } from "./ports.js";
import { readPodTemplate, type TemplateRead } from "./podTemplate.js";
import type { ClusterView } from "./render/cluster.js";
import type { Addressing } from "../access/clusterView.js";
import type { S3Gate } from "../access/s3.js";

export interface ObserveDeps {
  writer: Writer;
  s3: S3Gate;
  addressing: Addressing;
  operatorNamespace: string;
  /** Kubernetes node name -> epoch ms since it has been unreachable. */
  unreachableSince: ReadonlyMap<string, number>;
  nodeFailureTimeoutMs: number;
  /** Names of the cluster's would-be children that exist in the caches with another owner. */
  conflicts: string[];
  /** PodDisruptionBudgets of the namespace that are not the cluster's own (see Observed.otherPdbs). */
  otherPdbs?: V1PodDisruptionBudget[];
  refusedGrowth: ReadonlyMap<string, { size: string; message: string }>;
  /** Member ids of the cluster's last written status. */
  lastMembers: string[];
  /** status.images of the cluster's last written status. */
  lastImages?: string[];
  now: number;
  /** Reads the RqBackup spec.restore.backup names. */
  readBackup?: ReadBackup | undefined;
  /** Lists a namespace's RqBackups, for status.backup.lastSuccessfulTime. */
  listBackups?: ListBackups | undefined;
  /** When retention last ran per cluster. */
  retention: RetentionSchedule;
  /** Restore sources that failed to resolve, and when each is asked again. */
  restoreRetries?: RestoreRetries;
  /** status.backup.uploader as last written. */
  previousUploader?: { node?: string; ok?: number; fail?: number } | undefined;
  /** The cluster's Restored condition is True (spec.restore is done). */
  restored?: boolean;
  /** The operator's own image, for the loader of a restore from a claim. */
  loaderImage?: () => Promise<string>;
  /** Reads a claim, for spec.restore.pvc. */
  readClaim?: ReadClaim;
  /** The loader Pod of a restore from a claim, as the cache has it. */
  loader?: V1Pod;
  /** The object spec.restore must resolve to (a recovery's backup): a kept source that is another is resolved again. */
  restoreLocation?: string;
  /**
   * The last ca.crt read from each tls.http Secret ("namespace/name"), kept across reconciles: a
   * Secret deleted or emptied mid-rotation does not stop the operator from verifying nodes that
   * still serve the certificate it signed.
   */
  knownCas?: Map<string, string>;
}

export interface Observation {
  observed: Observed;
  rqlite: ClusterRqlite;
}

export async function observe(deps: ObserveDeps, c: ClusterView, owned: Children): Promise<Observation> {
  const auth = await readAuth(deps.writer, c, owned.pods);
  const reach = await reachCluster(deps, c, owned.pods, operatorCredentials(auth));
  const { rqlite, problems: caProblems, caCopy } = reach;
  const { view, problem, unauthorized } = await leaderOf(reach, owned.pods);

  const template = await readPodTemplate(deps.writer, c);
  const backup = await observeBackup(
    {
      writer: deps.writer,
      s3: deps.s3,
      readBackup: deps.readBackup,
      ...(deps.readClaim ? { readClaim: deps.readClaim } : {}),
      now: deps.now,
      ...(deps.restoreRetries ? { restoreRetries: deps.restoreRetries } : {}),
      ...(deps.restoreLocation ? { restoreLocation: deps.restoreLocation } : {}),
    },
    c,
  );
  const readings = await readBackupReadings(
    { rqlite, schedule: deps.retention, listBackups: deps.listBackups },
    c,
    view?.leader,
    deps.previousUploader,
  );
  const secretProblems = [...caProblems, ...backup.secretProblems];
  const observed: Observed = {
    // With spec.restore resolved, which the founding voters' Pods render from.
    cluster: backup.cluster,
    addressing: deps.addressing,
    operatorNamespace: deps.operatorNamespace,
    pods: owned.pods,
    pvcs: owned.pvcs,
    services: owned.services,
    pdbs: owned.pdbs,
    networkPolicies: owned.networkPolicies,
    conflicts: deps.conflicts,
    ...(deps.otherPdbs ? { otherPdbs: deps.otherPdbs } : {}),
    ...templateOf(template),
    holds: [
      ...(template.problem !== undefined
        ? [{ reason: "PodTemplateRefused", message: template.problem, warning: true }]
        : []),
      ...backup.holds,
    ],
    ...(auth ? { auth } : {}),
    ...(backup.backupConfig ? { backupConfig: backup.backupConfig } : {}),
    ...(deps.restored ? { restoreDone: true } : {}),
    ...(backup.restoreProblem ? { restoreProblem: backup.restoreProblem } : {}),
    backupReadings: readings,
    ...(secretProblems.length > 0 ? { secretProblems } : {}),
    ...(caCopy ? { caCopy } : {}),
    lastMembers: deps.lastMembers,
    ...(deps.lastImages?.length ? { lastImages: deps.lastImages } : {}),
    refusedGrowth: deps.refusedGrowth,
    ...(view
      ? { raft: { leader: view.leader, members: view.members, canTransfer: canTransferLeadership(view.leaderVersion) } }
      : { rqliteProblem: problem, ...(unauthorized ? { rqliteUnauthorized: true } : {}) }),
    unreachableSince: deps.unreachableSince,
    nodeFailureTimeoutMs: deps.nodeFailureTimeoutMs,
    now: deps.now,
  };
  const restoreLoader = await observeLoader(deps, observed, view && { leader: view.leader, reach, pods: owned.pods });
  return { observed: restoreLoader ? { ...observed, restoreLoader } : observed, rqlite };
}

/**
 * The loader Pod of a restore from a claim; and, only while it is due and not made yet, the
 * operator's image and the leader it loads into (backup/loader.ts decides).
 */
async function observeLoader(
  deps: Pick<ObserveDeps, "loader" | "loaderImage">,
  o: Observed,
  leader: { leader: string; reach: ClusterReach; pods: V1Pod[] } | undefined,
): Promise<LoaderObservation | undefined> {
  const pod = deps.loader;
  const due =
    !pod && leader && pvcRestorePending(o, bootstrapExpectOf(o.pods, o.pvcs, o.cluster.spec.replicas)) !== undefined;
  if (!due) return pod ? { pod } : undefined;
  const image = deps.loaderImage
    ? await deps.loaderImage().then(
        (image) => ({ image }),
        (err: Error) => ({ problem: err.message }),
      )
    : { problem: "this controller was started without the operator's image for its Pods" };
  const access = leader.reach.accessOf(leader.leader);
  const secrets = leaderSecrets(o.cluster, leader.pods, leader.leader, access);
  const target: LoaderTarget = {
    leader: leader.leader,
    url: `${access.https ? "https" : "http"}://${access.address}`,
    ...(access.credentials && secrets.password
      ? { auth: { username: access.credentials.username, password: secrets.password } }
      : {}),
    ...(secrets.caSecret ? { ca: { secretName: secrets.caSecret, key: "ca.crt" } } : {}),
  };
  return { image, target };
}

/**
 * The readings a plan asked for (see Need), added to what was observed: the nodes that passed
 * `/readyz?sync`, the founding voters' restore counters, the listing retention judges. A
 * retention listing is recorded in the schedule whether or not it succeeded, so a failing
 * bucket is asked once a period, not on every reconcile.
 */
export async function observeNeeds(
  deps: Pick<ObserveDeps, "writer" | "s3" | "retention">,
  o: Observed,
  rqlite: ClusterRqlite,
  needs: Need[],
): Promise<Observed> {
  const readings: Readings = {};
  for (const need of needs) {
    switch (need.type) {
      case "synced":
        readings.synced = await rqlite.synced(need.nodes);
        break;
      case "restoreCounts":
        readings.restoreCounts = await readRestoreCounts(rqlite, need.nodes);
        if (need.leader) {
          const data = await readLeaderData(rqlite, need.leader);
          if (data) readings.restoreLeaderData = data;
        }
        break;
      case "retentionListing":
        deps.retention.record(o.cluster.uid, o.now);
        readings.retentionListing = await listForRetention(deps, o.cluster);
        break;
    }
  }
  return withReadings(o, readings);
}

const templateOf = (read: TemplateRead): Pick<Observed, "template"> =>
  read.problem === undefined && read.template ? { template: read.template } : {};

/** Children with this cluster's names that exist with another owner (see ../shared names). */
export function conflictsOf(uid: string, names: string[], lookup: (name: string) => KubernetesObject[]): string[] {
  return names.filter((name) =>
    lookup(name).some((o) => {
      const refs = o.metadata?.ownerReferences ?? [];
      return refs.length > 0 && !refs.some((r) => r.uid === uid);
    }),
  );
}
