// PURE rendering and reading of the Job that writes a `pvc` RqBackup: the operator cannot mount
// a user's PVC itself, so a one-Pod Job of the operator's own image mounts it and runs toFile.ts,
// which streams the leader's backup into the volume and reports size and sha256 in its
// termination message. No I/O here; table-tested in test/unit/controller/rqbackup/job.test.ts.
import { createHash } from "node:crypto";
import type { V1EnvVar, V1Job, V1Pod, V1PodSpec, V1ResourceRequirements } from "@kubernetes/client-node";
import { API_VERSION, LABEL_MANAGED_BY, MANAGER_NAME, DNS_LABEL_MAX_LENGTH } from "../../shared/names.js";
import { BACKUP_KIND, LABEL_BACKUP_OF } from "../../shared/backup-names.js";
import type { BackupFormat } from "./types.js";

/** Set on the Job and its Pod (to the RqBackup's name): how the operator and the local runtime find them. */
export const LABEL_BACKUP_JOB = "rqlite.io/backup-job";
export const BACKUP_JOB_CONTAINER = "backup";
/** Where the claim is mounted in the Job's container. */
export const BACKUP_MOUNT = "/backup";
export const TERMINATION_LOG = "/dev/termination-log";
/** The entry point in the image (the Dockerfile's `COPY controller` compiles it into dist/). */
export const TO_FILE_ENTRY = "dist/controller/rqbackup/toFile.js";
/** Env names toFile.ts reads its secrets from (values only ever come from Secrets). */
export const ENV_PASSWORD = "RQLITE_PASSWORD";
export const ENV_CA = "RQLITE_CA";

export interface SecretKey {
  secretName: string;
  key: string;
}

export interface BackupJobInput {
  /** The RqBackup, and the RqCluster (in its namespace) it backs up. */
  backup: { name: string; namespace: string; uid: string; cluster: string };
  attempt: number;
  image: string;
  claimName: string;
  /** The file's path inside the volume, e.g. "nightly/ns-name-20260101T000000Z.sqlite.gz". */
  file: string;
  /** The leader: its base URL (http(s)://host:4001) and Raft id. */
  leaderUrl: string;
  leaderId: string;
  /** The operator's rqlite user, when the cluster runs with -auth: the password from a Secret. */
  auth?: { username: string; password: SecretKey };
  /** The CA of rqlite's HTTPS certificate, when it serves HTTPS. */
  ca?: SecretKey;
  format: BackupFormat;
  compress: boolean;
  vacuum: boolean;
  /** The Job's activeDeadlineSeconds: the operator's limit for one attempt (--backup-deadline). */
  deadlineSeconds: number;
}

/**
 * The name of a Job of the RqBackup `backup`: <backup><suffix>, shortened with a hash when the
 * backup's name is long, as the Job controller copies it into a label value (63 characters at most).
 */
export function toFileJobName(backup: string, suffix: string): string {
  const room = DNS_LABEL_MAX_LENGTH - suffix.length;
  if (backup.length <= room) return `${backup}${suffix}`;
  const hash = createHash("sha256").update(backup).digest("hex").slice(0, 8);
  return `${backup.slice(0, room - 9).replace(/[-.]+$/, "")}-${hash}${suffix}`;
}

export function backupJobName(backup: string, attempt: number): string {
  return toFileJobName(backup, `-backup-${attempt}`);
}

export function renderBackupJob(i: BackupJobInput): V1Job {
  const secretEnv = (name: string, ref: SecretKey) => ({
    name,
    valueFrom: { secretKeyRef: { name: ref.secretName, key: ref.key } },
  });
  return renderToFileJob({
    name: backupJobName(i.backup.name, i.attempt),
    backup: i.backup,
    labels: { [LABEL_BACKUP_OF]: i.backup.cluster },
    // One Pod per attempt: the RqBackup controller retries with its own backoff and a new Job,
    // so each attempt's Pod (and its message) stays to be read.
    backoffLimit: 0,
    // A source that trickles never trips toFile's idle timeout: the Job ends at the deadline.
    activeDeadlineSeconds: i.deadlineSeconds,
    image: i.image,
    claimName: i.claimName,
    args: [
      `--source=${i.leaderUrl}`,
      `--node-id=${i.leaderId}`,
      `--format=${i.format}`,
      `--compress=${i.compress}`,
      `--vacuum=${i.vacuum}`,
      `--file=${BACKUP_MOUNT}/${i.file}`,
      ...(i.auth ? [`--username=${i.auth.username}`] : []),
    ],
    env: [...(i.auth ? [secretEnv(ENV_PASSWORD, i.auth.password)] : []), ...(i.ca ? [secretEnv(ENV_CA, i.ca)] : [])],
    resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
  });
}

/** The entry point of a `pvc` backup's verification (./verifyFile.ts). */
export const VERIFY_FILE_ENTRY = "dist/controller/rqbackup/verifyFile.js";
/** Where the verification Job uncompresses the backup. */
export const VERIFY_SCRATCH = "/scratch";

export interface VerifyJobInput {
  backup: { name: string; namespace: string; uid: string; cluster: string };
  /** Tells one verification's Job from the next (a new request, a retry). */
  suffix: string;
  image: string;
  claimName: string;
  file: string;
  format: BackupFormat;
  compress: boolean;
  /** --backup-verify-max-bytes: the most the Job stages, compressed or not. */
  maxBytes: number;
  deadlineSeconds: number;
}

export function verifyJobName(backup: string, suffix: string): string {
  return toFileJobName(backup, `-verify-${suffix}`);
}

/**
 * The Job that verifies a `pvc` backup: the claim read-only, a scratch emptyDir twice the staging
 * bound (the compressed file is read in place, the uncompressed copy is staged), no network use.
 */
export function renderVerifyJob(i: VerifyJobInput): V1Job {
  const deadline = i.deadlineSeconds;
  return renderToFileJob({
    name: verifyJobName(i.backup.name, i.suffix),
    backup: i.backup,
    labels: { [LABEL_VERIFY_JOB]: i.suffix },
    // One Pod per verification: a Pod that cannot report is read as unreadable, and retried by the controller.
    backoffLimit: 0,
    activeDeadlineSeconds: deadline,
    image: i.image,
    claimName: i.claimName,
    readOnly: true,
    entry: VERIFY_FILE_ENTRY,
    scratch: { path: VERIFY_SCRATCH, sizeLimit: String(i.maxBytes * 2) },
    args: [
      `--file=${BACKUP_MOUNT}/${i.file}`,
      `--format=${i.format}`,
      `--compress=${i.compress}`,
      `--max-bytes=${i.maxBytes}`,
      `--scratch=${VERIFY_SCRATCH}`,
      `--timeout-seconds=${Math.max(1, deadline - 5)}`,
    ],
    resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
  });
}

/** On a verification Job (beside the backup-job label): which verification it is. */
export const LABEL_VERIFY_JOB = "rqlite.io/verify-job";

/** What differs between the Jobs that run toFile.ts on an RqBackup's claim. */
export interface ToFileJobParts extends ToFilePodParts {
  name: string;
  /** The RqBackup that owns the Job. */
  backup: { name: string; namespace: string; uid: string };
  /** Beside the managed-by and backup-job labels. */
  labels?: Record<string, string>;
  backoffLimit: number;
  activeDeadlineSeconds: number;
}

/** A one-Pod Job of the operator's image running toFile.ts on the claim (toFilePodSpec), owned by the RqBackup. */
export function renderToFileJob(p: ToFileJobParts): V1Job {
  const labels = { [LABEL_MANAGED_BY]: MANAGER_NAME, [LABEL_BACKUP_JOB]: p.backup.name, ...p.labels };
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: p.name,
      namespace: p.backup.namespace,
      labels,
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: BACKUP_KIND,
          name: p.backup.name,
          uid: p.backup.uid,
          controller: true,
          // No blockOwnerDeletion: deleting the RqBackup must not wait for its Jobs.
        },
      ],
    },
    spec: {
      backoffLimit: p.backoffLimit,
      activeDeadlineSeconds: p.activeDeadlineSeconds,
      template: { metadata: { labels }, spec: toFilePodSpec(p) },
    },
  };
}

/** The restricted Pod that runs one of the operator's entry points with a claim at BACKUP_MOUNT. */
export interface ToFilePodParts {
  image: string;
  claimName: string;
  /** Mount the claim read-only: the Pod only reads the file (a restore's load). */
  readOnly?: boolean;
  /** The entry point in the image; toFile.ts when unset. */
  entry?: string;
  /** A writable scratch folder (an emptyDir of at most `sizeLimit`) at this path. */
  scratch?: { path: string; sizeLimit: string };
  args: string[];
  env?: V1EnvVar[];
  resources: V1ResourceRequirements;
}

/** Restricted as the Pod Security Standards' `restricted` level asks; no token, no service links. */
export function toFilePodSpec(p: ToFilePodParts): V1PodSpec {
  return {
    restartPolicy: "Never",
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      fsGroup: 65532,
      seccompProfile: { type: "RuntimeDefault" },
    },
    containers: [
      {
        name: BACKUP_JOB_CONTAINER,
        image: p.image,
        command: ["node", p.entry ?? TO_FILE_ENTRY],
        args: [...p.args, `--termination-log=${TERMINATION_LOG}`],
        ...(p.env ? { env: p.env } : {}),
        volumeMounts: [
          { name: "backup", mountPath: BACKUP_MOUNT, ...(p.readOnly ? { readOnly: true } : {}) },
          ...(p.scratch ? [{ name: "scratch", mountPath: p.scratch.path }] : []),
        ],
        terminationMessagePath: TERMINATION_LOG,
        // A crash before the message is written still says why, from the log's tail.
        terminationMessagePolicy: "FallbackToLogsOnError",
        resources: p.resources,
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ["ALL"] },
          seccompProfile: { type: "RuntimeDefault" },
        },
      },
    ],
    volumes: [
      {
        name: "backup",
        persistentVolumeClaim: { claimName: p.claimName, ...(p.readOnly ? { readOnly: true } : {}) },
      },
      ...(p.scratch ? [{ name: "scratch", emptyDir: { sizeLimit: p.scratch.sizeLimit } }] : []),
    ],
  };
}

/** What toFile.ts writes to its termination message. */
export type ToFileReport = { size: number; sha256: string } | { error: string };

export type JobOutcome =
  /** `waiting`: why its Pod has not started (it cannot be scheduled: e.g. the claim is not Bound). */
  | { kind: "running"; waiting?: string }
  | { kind: "succeeded"; size: number; sha256: string }
  | { kind: "failed"; reason: string };

const conditionTrue = (job: V1Job, type: string) =>
  job.status?.conditions?.find((c) => c.type === type && c.status === "True");

/** The Job's result, from its conditions and its Pod's termination message. */
export function jobOutcome(job: V1Job, pods: V1Pod[]): JobOutcome {
  const name = `Job ${job.metadata?.namespace}/${job.metadata?.name}`;
  const complete = conditionTrue(job, "Complete");
  const failed = conditionTrue(job, "Failed");
  if (!complete && !failed) {
    const unscheduled = pods
      .flatMap((p) => p.status?.conditions ?? [])
      .find((c) => c.type === "PodScheduled" && c.status === "False");
    if (!unscheduled) return { kind: "running" };
    return {
      kind: "running",
      waiting: `the Pod of ${name} cannot be scheduled (${unscheduled.reason ?? "Unschedulable"}: ${unscheduled.message ?? "no message"}); check that the claim is Bound or can bind (kubectl describe pvc)`,
    };
  }
  const terminated = pods
    .map((p) => p.status?.containerStatuses?.find((c) => c.name === BACKUP_JOB_CONTAINER)?.state?.terminated)
    .find((t) => t !== undefined);
  const report = parseReport(terminated?.message);
  if (complete) {
    if (report && "sha256" in report) return { kind: "succeeded", size: report.size, sha256: report.sha256 };
    return { kind: "failed", reason: `${name} succeeded but its Pod reported no size and sha256` };
  }
  if (failed?.reason === "DeadlineExceeded")
    return {
      kind: "failed",
      reason: `${name} did not finish within its activeDeadlineSeconds (${job.spec?.activeDeadlineSeconds ?? "?"} s, the operator's --backup-deadline) and was stopped`,
    };
  if (report && "error" in report) return { kind: "failed", reason: `${name} failed: ${report.error}` };
  const why = terminated?.message?.trim() || failed?.message || failed?.reason || "no reason given";
  return { kind: "failed", reason: `${name} failed (${terminated ? `exit code ${terminated.exitCode}: ` : ""}${why})` };
}

export function parseReport(message: string | undefined): ToFileReport | undefined {
  if (!message) return undefined;
  try {
    const r = JSON.parse(message) as Partial<{ size: unknown; sha256: unknown; error: unknown }>;
    if (typeof r.error === "string") return { error: r.error };
    if (typeof r.size === "number" && typeof r.sha256 === "string" && /^[0-9a-f]{64}$/.test(r.sha256)) {
      return { size: r.size, sha256: r.sha256 };
    }
  } catch {
    // Not ours: the log tail of a crash (FallbackToLogsOnError).
  }
  return undefined;
}
