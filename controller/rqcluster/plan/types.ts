// The planner's input and output. `plan(observed)` is pure: it takes what one reconcile observed
// (the caches, rqlite's membership as the leader reports it, Kubernetes node health, the clock)
// and returns the next actions as data, or why it waits. The executor (../apply.ts) performs
// them; the next reconcile observes again. No function under plan/ does I/O or reads a clock.
import type { LoaderObservation } from "../backup/loader.js";
import type { CaCopy } from "../../access/caCopy.js";
import type {
  V1NetworkPolicy,
  KubernetesObject,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodDisruptionBudget,
  V1Service,
} from "@kubernetes/client-node";
import type { RestoreCounts } from "../../rqlite/client.js";
import type { AuthRead } from "./auth.js";
import type { Json } from "../../runtime/writer.js";
import type { StoredObject } from "../../access/s3.js";
import type { S3Connection } from "../../access/s3Connection.js";
import type { ClusterView } from "../render/cluster.js";
import type { Addressing, SecretProblem } from "../../access/clusterView.js";
import type { RecoveryObservation, RecoveryPlan } from "./recovery.js";

/** One server of the Raft configuration, as the leader sees it. */
export interface RaftMember {
  id: string;
  voter: boolean;
  /** The leader reached it just now. */
  reachable: boolean;
  /** As rqlite reports it (for status only). */
  address?: string;
}

/** The Raft configuration as the leader reports it (never a follower's view). */
export interface RaftView {
  leader: string;
  members: RaftMember[];
  /** The leader's rqlite can hand leadership to a chosen node (POST /leader with an id). */
  canTransfer: boolean;
}

export interface Observed {
  cluster: ClusterView;
  /** How nodes name each other (rendered into the Pods). */
  addressing: Addressing;
  /** Where the operator runs: the NetworkPolicy admits its calls from there. */
  operatorNamespace: string;
  /** Children owned by this cluster (or unowned with its labels, to adopt). */
  pods: V1Pod[];
  pvcs: V1PersistentVolumeClaim[];
  services: V1Service[];
  pdbs: V1PodDisruptionBudget[];
  networkPolicies: V1NetworkPolicy[];
  /**
   * PodDisruptionBudgets in the cluster's namespace that are not its own (a user's): one that
   * selects the cluster's Pods makes the API server refuse every eviction of them.
   */
  otherPdbs?: V1PodDisruptionBudget[];
  /** Names of the cluster's children that exist but belong to another owner. */
  conflicts: string[];
  /** The user's pod template (spec.podTemplate or its ConfigMap's), an RFC 7396 merge patch. */
  template?: Json;
  /**
   * What a person must fix before any Pod may change (a refused template, the operator's Secret
   * owned by someone else); the Pods keep running as they are meanwhile.
   */
  holds?: Wait[];
  /** What was read for -auth; ./auth.ts decides the users file from it. */
  auth?: AuthRead;
  /** The operator's copy of the tls.http CAs in use (../../access/caCopy.ts). */
  caCopy?: CaCopy;
  /**
   * The live backup config Secret (decoded data), read when spec.backup or spec.restore is set;
   * planBackupSecret renders the desired one from the cluster itself.
   */
  backupConfig?: { exists: boolean; data: Record<string, string> };
  /**
   * spec.restore is behind the cluster: its Restored condition is True (rqlite's counters said the
   * leader loaded it). No Pod made from then on loads it again.
   */
  restoreDone?: boolean;
  /** Why spec.restore cannot be resolved, when it cannot (for the Restored condition). */
  restoreProblem?: string;
  /** The loader of a restore from a claim (backup/loader.ts), with what creating it needs. */
  restoreLoader?: LoaderObservation;
  /**
   * Secrets the spec names that are missing or lack a key: each disables only the feature that
   * needs it (shown in the SecretsReady condition), never the reconcile.
   */
  secretProblems?: SecretProblem[];
  /**
   * Raft members as the last status recorded them. While no leader answers, a missing Pod that
   * was a member is a node coming back, not a new one joining: it is recreated at once.
   */
  lastMembers?: string[];
  /**
   * The rqlite images status recorded last (status.images). With no Pod running they are what the
   * volumes' data was written by, which spec.image is judged against (plan/facts.ts refusedStep).
   */
  lastImages?: string[];
  /** Undefined when no leader answered; `rqliteProblem` then says why. */
  raft?: RaftView;
  rqliteProblem?: string;
  /** Every running node refused the operator's credentials: they run an older users file. */
  rqliteUnauthorized?: boolean;
  /**
   * Nodes that passed `/readyz?sync` in this reconcile; undefined until the plan asks (a Need),
   * which it does only while a disruptive step may be due (see needsDisruption), so a steady
   * cluster costs no extra calls.
   */
  synced?: ReadonlySet<string>;
  /** spec.backup's upload counters and retention clock, and the newest RqBackup (backup/observe.ts). */
  backupReadings?: BackupReadings;
  /** rqlite's auto-restore counters of the founding voters that answered; read when the plan asks. */
  restoreCounts?: ReadonlyMap<string, RestoreCounts>;
  /**
   * The Raft leader's store.db_applied_index, read with the counters: what settles the restore
   * when the counters were lost with the process that counted the load (see backup/plan.ts).
   */
  restoreLeaderData?: { leader: string; dbAppliedIndex: number };
  /** spec.backup's folder as S3 listed it, or why it could not be; read when retention is due. */
  retentionListing?: { objects: StoredObject[] } | { failure: string };
  /**
   * PVC name -> the size the API server refused to grow it to, and its message, remembered for
   * a while so that a refused growth is neither retried nor forgotten on every reconcile.
   */
  refusedGrowth?: ReadonlyMap<string, { size: string; message: string }>;
  /** Kubernetes node name -> epoch ms since it has been unreachable (Ready Unknown). */
  unreachableSince: ReadonlyMap<string, number>;
  nodeFailureTimeoutMs: number;
  /** Epoch ms. */
  now: number;
  /** What a quorum-loss recovery asked for by spec.recovery must judge (read only then). */
  recovery?: RecoveryObservation;
}

/** rqlite's auto-backup counters on one node, as /debug/vars gives them. */
export interface UploaderReading {
  node: string;
  ok: number;
  fail: number;
}

export interface BackupReadings {
  /** The leader's counters now. */
  uploads?: UploaderReading;
  /** The counters status.backup.uploader recorded last. */
  previousUploads?: UploaderReading;
  /** Epoch ms retention last listed the folder (backup/observe.ts's RetentionSchedule). */
  lastRetentionAt?: number;
  /** completedAt of the cluster's newest Completed RqBackup. */
  rqBackupCompletedAt?: string;
}

/**
 * A reading the plan needs before it can decide, which observe does not take on its own because
 * it costs calls a steady cluster should not make. The reconcile reads it and plans again.
 */
export type Need =
  | { type: "synced"; nodes: string[] }
  /** `leader`: the Raft leader, whose db_applied_index is read too (Observed.restoreLeaderData). */
  | { type: "restoreCounts"; nodes: string[]; leader?: string }
  | { type: "retentionListing" };

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
}

interface Described {
  /** Event reason and message: `kubectl describe rqc` tells the story. */
  reason: string;
  message: string;
  /** Sent as a Warning Event: something went wrong that the action answers (a lost node). */
  warning?: boolean;
}

export type Action = Described &
  /** A missing child (Pods are created; the others applied, see ../apply.ts). */
  (
    | { type: "create"; object: KubernetesObject }
    /**
     * Server-side apply of every field the operator owns on a child that drifted: a field someone
     * changed by hand comes back, what others added of their own stays.
     */
    | { type: "apply"; object: KubernetesObject }
    /** A merge patch, only to remove what apply cannot: keys another manager owns, fields of old renders. */
    | { type: "patch"; target: ObjectRef; patch: Json }
    | { type: "delete"; target: ObjectRef }
    /**
     * Deletes a node's Pod: disruptive. `force` skips the grace period (lost Kubernetes node).
     * `evict` goes through the Eviction API (pods/eviction), so that the API server's check of
     * the PodDisruptionBudget serializes it with a drain's evictions (see ./eviction.ts). Only
     * voluntary disruptions of a running voter or member are evicted: a rolling update's step
     * (spec, template, image or auth changes all roll). The others are plain deletes, since the
     * budget has nothing to protect there: a Pod on a lost Kubernetes node (forced, it is gone
     * already), a scale-down's victim (already out of the Raft configuration), a stranded Pod
     * (no member, not Ready), an unschedulable Pod (never ran).
     */
    | { type: "deletePod"; name: string; force?: boolean; evict?: boolean }
    | { type: "removeFromRaft"; leader: string; node: string }
    | { type: "transferLeadership"; from: string; to: string }
    /** Deletes one of rqlite's uploads that spec.backup.retention no longer keeps. */
    | { type: "deleteBackupObject"; connection: S3Connection; key: string }
  );

/** Actions that can take a voter or a member away. At most one runs per reconcile. */
export function isDisruptive(a: Action): boolean {
  return a.type === "deletePod" || a.type === "removeFromRaft" || a.type === "transferLeadership";
}

export interface Wait {
  reason: string;
  message: string;
  /** Sent as a Warning Event: something needs attention, not just time. */
  warning: boolean;
}

export interface Plan {
  actions: Action[];
  /** Why the plan stops short of convergence, when it does. */
  waits: Wait[];
  /** Look again after this long even without a watch event (rqlite sends none). */
  requeueAfterMs?: number;
  /** Readings to take before planning again; the actions are empty while any is asked. */
  needs?: Need[];
  /** The recovery's step: its status.recovery and its Event. */
  recovery?: RecoveryPlan;
}
