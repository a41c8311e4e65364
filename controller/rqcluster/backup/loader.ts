// A restore from a claim (spec.restore.pvc, or spec.restore.backup naming a `pvc` RqBackup), decided
// and rendered purely. rqlite's auto-restore reads only S3 and GCS, and a ReadWriteOnce claim can be
// mounted on one node, not in every founding voter; so the founding voters start empty, and once
// they have formed the cluster a one-shot Pod of the operator's image mounts the claim read-only
// and streams the file into the leader through POST /db/load (controller/rqbackup/fromFile.ts).
// The Pod's own scheduling follows the claim: the scheduler places it where the claim can be
// mounted. Its termination message is the outcome the Restored condition reports.
import type { V1Pod } from "@kubernetes/client-node";
import { LABEL_BACKUP_OF } from "../../../shared/backup-names.js";
import { LABEL_MANAGED_BY, MANAGER_NAME } from "../../../shared/names.js";
import {
  BACKUP_JOB_CONTAINER,
  BACKUP_MOUNT,
  ENV_CA,
  ENV_PASSWORD,
  parseReport,
  toFilePodSpec,
  type SecretKey,
} from "../../rqbackup/job.js";
import type { Action, Observed, Wait } from "../plan/types.js";
import { POD } from "../ports.js";
import type { ClusterView } from "../render/cluster.js";
import { adoptedFoundingVolumes } from "./plan.js";
import { isPvcRestore, type PvcRestore } from "./render.js";

/**
 * On the loader Pod (the cluster's name), and never the cluster label: it is no node of the
 * cluster. It also carries LABEL_BACKUP_OF, which the cluster's NetworkPolicy admits to the HTTP API.
 */
export const LABEL_RESTORE_OF = "rqlite.io/restore-of";
/** The entry point in the image (the Dockerfile compiles controller/ into dist/). */
export const FROM_FILE_ENTRY = "dist/controller/rqbackup/fromFile.js";
/** The loader Pod's limit: rqlite's load of a large file through Raft takes a while. */
export const LOADER_DEADLINE_SECONDS = 3600;

export const loaderPodName = (cluster: string): string => `${cluster}-restore`;

/** The leader the loader streams into, and the Secrets (by name and key) that reach it. */
export interface LoaderTarget {
  leader: string;
  /** http(s)://host:4001 */
  url: string;
  auth?: { username: string; password: SecretKey };
  ca?: SecretKey;
}

/**
 * The loader Pod as the cache has it; and, only while one is due (a pending load, no Pod yet, a
 * leader), the operator's image (or why it is unknown) and the leader to load into (./observe.ts).
 */
export interface LoaderObservation {
  pod?: V1Pod;
  image?: { image: string } | { problem: string };
  target?: LoaderTarget;
}

export function renderLoaderPod(c: ClusterView, source: PvcRestore, image: string, t: LoaderTarget): V1Pod {
  const secretEnv = (name: string, ref: SecretKey) => ({
    name,
    valueFrom: { secretKeyRef: { name: ref.secretName, key: ref.key } },
  });
  const spec = toFilePodSpec({
    image,
    claimName: source.claimName,
    readOnly: true,
    entry: FROM_FILE_ENTRY,
    args: [
      `--target=${t.url}`,
      `--node-id=${t.leader}`,
      `--file=${BACKUP_MOUNT}/${source.file}`,
      ...(source.expect ? [`--sha256=${source.expect.sha256}`, `--size=${source.expect.size}`] : []),
      ...(t.auth ? [`--username=${t.auth.username}`] : []),
    ],
    env: [...(t.auth ? [secretEnv(ENV_PASSWORD, t.auth.password)] : []), ...(t.ca ? [secretEnv(ENV_CA, t.ca)] : [])],
    resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
  });
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: loaderPodName(c.name),
      namespace: c.namespace,
      labels: { [LABEL_MANAGED_BY]: MANAGER_NAME, [LABEL_RESTORE_OF]: c.name, [LABEL_BACKUP_OF]: c.name },
      ownerReferences: [c.ownerReference],
    },
    spec: {
      ...spec,
      activeDeadlineSeconds: LOADER_DEADLINE_SECONDS,
      ...(c.spec.imagePullSecrets ? { imagePullSecrets: c.spec.imagePullSecrets } : {}),
    },
  };
}

export type LoaderOutcome =
  | { kind: "none" }
  /** `waiting`: why its Pod has not started (e.g. the claim cannot be mounted where it could run). */
  | { kind: "running"; waiting?: string }
  | { kind: "loaded"; size: number; sha256: string }
  | { kind: "failed"; reason: string };

/** How the loader Pod ended, from its phase and termination message. */
export function loaderOutcome(pod: V1Pod | undefined): LoaderOutcome {
  if (!pod) return { kind: "none" };
  const name = `Pod ${pod.metadata?.namespace}/${pod.metadata?.name}`;
  const phase = pod.status?.phase;
  if (phase !== "Succeeded" && phase !== "Failed") {
    const unscheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
    const waitingState = pod.status?.containerStatuses?.find((s) => s.name === BACKUP_JOB_CONTAINER)?.state?.waiting;
    const why = unscheduled
      ? `${name} cannot be scheduled (${unscheduled.reason ?? "Unschedulable"}: ${unscheduled.message ?? "no message"}); check that the claim exists and can be mounted (kubectl describe pvc)`
      : waitingState?.message
        ? `${name} waits (${waitingState.reason ?? "Waiting"}: ${waitingState.message})`
        : undefined;
    return why ? { kind: "running", waiting: why } : { kind: "running" };
  }
  const terminated = pod.status?.containerStatuses?.find((s) => s.name === BACKUP_JOB_CONTAINER)?.state?.terminated;
  const report = parseReport(terminated?.message);
  if (phase === "Succeeded") {
    if (report && "sha256" in report) return { kind: "loaded", size: report.size, sha256: report.sha256 };
    return { kind: "failed", reason: `${name} ended but reported no size and sha256` };
  }
  if (pod.status?.reason === "DeadlineExceeded")
    return { kind: "failed", reason: `${name} did not finish within ${LOADER_DEADLINE_SECONDS} s and was stopped` };
  if (report && "error" in report) return { kind: "failed", reason: `${name} failed: ${report.error}` };
  const why = terminated?.message?.trim() || pod.status?.message || "no reason given";
  return { kind: "failed", reason: `${name} failed (${terminated ? `exit code ${terminated.exitCode}: ` : ""}${why})` };
}

/** The claim's file still to be loaded: resolved, not done, and no founding volume adopted. */
export function pvcRestorePending(o: Observed, bootstrapExpect: number): PvcRestore | undefined {
  const c = o.cluster;
  if (!c.spec.restore || !isPvcRestore(c.restore) || o.restoreDone) return undefined;
  return adoptedFoundingVolumes(c, o.pvcs, bootstrapExpect).length > 0 ? undefined : c.restore;
}

/**
 * The loader Pod's part of one reconcile: created once the founding voters are all members of a
 * cluster with a leader (a load before then would reach a node that is not yet the cluster),
 * deleted once the Restored condition holds it done so it no longer holds the claim. A failed
 * loader stays, with its log, until a person deletes it (the next reconcile then tries again) or
 * the cluster.
 */
export function planLoader(o: Observed, bootstrapExpect: number): { actions: Action[]; wait?: Wait } {
  const pod = o.restoreLoader?.pod;
  const name = loaderPodName(o.cluster.name);
  if (pod && o.restoreDone && !pod.metadata?.deletionTimestamp)
    return {
      actions: [
        {
          type: "delete",
          target: { ...POD, name },
          reason: "RestoreLoaderRemoved",
          message: `deleted Pod ${name}, which loaded spec.restore`,
        },
      ],
    };
  const source = pvcRestorePending(o, bootstrapExpect);
  const r = o.restoreLoader;
  if (!source || pod || !r?.image || !r.target || !o.raft) return { actions: [] };
  if (o.raft.members.filter((m) => m.voter).length < bootstrapExpect) return { actions: [] };
  if ("problem" in r.image)
    return {
      actions: [],
      wait: {
        reason: "RestoreLoaderImageUnknown",
        message: `cannot load ${source.location}: ${r.image.problem}`,
        warning: true,
      },
    };
  const loader = renderLoaderPod(o.cluster, source, r.image.image, r.target);
  return {
    actions: [
      {
        type: "create",
        object: loader,
        reason: "RestoreLoading",
        message: `created Pod ${name} to load ${source.location} into the leader ${r.target.leader}`,
      },
    ],
  };
}
