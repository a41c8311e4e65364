// The single source of the RqCluster API: the CRD's openAPIV3Schema, the admission validator
// and shared/types.generated.ts all derive from these objects. Defaults live here too, so the
// API server's structural defaulting and applyDefaults() agree by construction.
import { conditionsSchema, resourceSchema } from "./kube-schema.js";
import type { JsonSchema } from "./json-schema.js";
import { MAX_READ_REPLICAS, MAX_REPLICAS, DEFAULT_POD_TEMPLATE_KEY } from "./names.js";
import { QUANTITY_PATTERN } from "./quantity.js";
import { TESTED_RQLITE_VERSIONS } from "./rqlite-versions.js";
import { clusterBackupSchema, clusterRestoreSchema, objectNameSchema } from "./backup-schema.js";
import { DATA_KEY_PATTERN, DNS1123_SUBDOMAIN_MAX_LENGTH } from "./k8s-names.js";
import { serviceSpecSchema } from "./service.js";

/**
 * The rqlite image new clusters get: the newest version the end-to-end suite runs, so the
 * default is one the project has run (test/unit/shared/rqlite-versions.test.ts fails otherwise).
 */
export const DEFAULT_IMAGE = `rqlite/rqlite:${TESTED_RQLITE_VERSIONS[0]!}`;

export const IMAGE_PULL_POLICIES = ["Always", "IfNotPresent", "Never"] as const;
export const RECLAIM_POLICIES = ["Retain", "Delete"] as const;
export const POD_ANTI_AFFINITIES = ["Preferred", "Required", "None"] as const;
export const UPDATE_STRATEGIES = ["RollingUpdate", "OnDelete"] as const;
export const PHASES = [
  "Pending",
  "Creating",
  "Running",
  "Scaling",
  "Upgrading",
  "Degraded",
  "Paused",
  "Hibernated",
  "Failed",
] as const;
/** Refused, Completed and Failed are final for one spec.recovery.requestedAt; the others are its steps. */
export const RECOVERY_PHASES = [
  "Pending",
  "Refused",
  "Stopping",
  "WritingPeers",
  "Restarting",
  "ClearingVolumes",
  "Restoring",
  "Completed",
  "Failed",
] as const;
/** Where a recovery takes the data from: the surviving voters' volumes, or the newest verified backup. */
export const RECOVERY_SOURCES = ["Survivors", "Backup"] as const;
export const CONDITION_TYPES = ["Ready", "Available", "Progressing", "Degraded", "Restored", "SecretsReady"] as const;

/** The requests a node gets when spec.resources does not name them. */
export const DEFAULT_REQUESTS = { cpu: "100m", memory: "128Mi" } as const;

const quantity = (description: string, dflt?: string): JsonSchema => ({
  description,
  "x-kubernetes-int-or-string": true,
  pattern: QUANTITY_PATTERN,
  ...(dflt !== undefined && { default: dflt }),
});

const secretRef = (description: string): JsonSchema => ({
  title: "SecretReference",
  description,
  type: "object",
  required: ["secretName"],
  properties: { secretName: objectNameSchema("Name of the Secret in the cluster's namespace.") },
});

/** metav1.LabelSelector, as NetworkPolicy peers take it. */
const labelSelectorSchema = (description: string): JsonSchema => ({
  title: "LabelSelector",
  description,
  type: "object",
  properties: {
    matchLabels: { type: "object", additionalProperties: { type: "string" } },
    matchExpressions: {
      type: "array",
      items: {
        title: "LabelSelectorRequirement",
        type: "object",
        required: ["key", "operator"],
        properties: {
          key: { type: "string" },
          operator: { type: "string", enum: ["In", "NotIn", "Exists", "DoesNotExist"] },
          values: { type: "array", items: { type: "string" } },
        },
      },
    },
  },
});

const resourceList = (description: string): JsonSchema => ({
  description,
  type: "object",
  additionalProperties: quantity("A quantity such as 500m, 2 or 1Gi."),
});

export const storageSchema: JsonSchema = {
  title: "StorageSpec",
  description: "The PersistentVolumeClaim each node stores its Raft log and SQLite database on.",
  type: "object",
  default: {},
  properties: {
    storageClassName: {
      description: "StorageClass of the PVCs; the cluster default when unset. Immutable.",
      type: "string",
    },
    size: quantity("Requested size of each PVC, at least 64Mi. May grow (PVC expansion), never shrink.", "1Gi"),
    reclaimPolicy: {
      description: "What happens to the PVCs when the RqCluster is deleted.",
      type: "string",
      enum: [...RECLAIM_POLICIES],
      default: "Retain",
    },
    scaleDownPolicy: {
      description: "What happens to the PVC of a node removed by scale-down.",
      type: "string",
      enum: ["Delete", "Retain"],
      default: "Delete",
    },
  },
};

export const resourcesSchema: JsonSchema = {
  title: "ResourceRequirements",
  description: "Compute resources of the rqlite container. Requests must not exceed limits.",
  type: "object",
  default: { requests: { ...DEFAULT_REQUESTS } },
  properties: {
    limits: resourceList("Maximum resources allowed."),
    requests: resourceList("Minimum resources required; cpu 100m and memory 128Mi when not named."),
    claims: {
      description: "Dynamic resource claims (DRA) the container uses, by name.",
      type: "array",
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["name"],
      items: {
        type: "object",
        required: ["name"],
        properties: {
          name: { description: "Name of an entry in the Pod's resourceClaims.", type: "string" },
          request: { description: "A request within that claim.", type: "string" },
        },
      },
    },
  },
};

export const affinitySchema: JsonSchema = {
  title: "AffinitySpec",
  description: "How the nodes of one cluster are spread.",
  type: "object",
  default: {},
  properties: {
    podAntiAffinity: {
      description: "Preferred or Required spreading of nodes across topologyKey, or None.",
      type: "string",
      enum: [...POD_ANTI_AFFINITIES],
      default: "Preferred",
    },
    topologyKey: {
      description: "Node label whose values the nodes are spread across.",
      type: "string",
      default: "kubernetes.io/hostname",
    },
  },
};

export const envVarSchema: JsonSchema = {
  title: "EnvVar",
  description: "An environment variable of the rqlite container, as in a Pod.",
  type: "object",
  required: ["name"],
  properties: {
    name: { type: "string" },
    value: { type: "string" },
    valueFrom: {
      description: "A source for the value (configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef, fileKeyRef).",
      type: "object",
      "x-kubernetes-preserve-unknown-fields": true,
    },
  },
};

export const specSchema: JsonSchema = {
  title: "RqClusterSpec",
  description: "The desired rqlite cluster.",
  type: "object",
  default: {},
  properties: {
    replicas: {
      description:
        "Voting nodes, 1 to 9. An odd number is recommended: an even one tolerates no more failures than one fewer.",
      type: "integer",
      format: "int32",
      minimum: 1,
      maximum: MAX_REPLICAS,
      default: 3,
    },
    readReplicas: {
      description: "Non-voting read-only nodes, 0 to 32.",
      type: "integer",
      format: "int32",
      minimum: 0,
      maximum: MAX_READ_REPLICAS,
      default: 0,
    },
    image: {
      description:
        "rqlite container image. An update may move up at most one major version, and down only where rqlite supports it in place (9.x to 8.x).",
      type: "string",
      default: DEFAULT_IMAGE,
    },
    imagePullPolicy: {
      type: "string",
      enum: [...IMAGE_PULL_POLICIES],
      default: "IfNotPresent",
    },
    imagePullSecrets: {
      description: "Secrets for pulling the image.",
      type: "array",
      items: {
        title: "LocalObjectReference",
        type: "object",
        required: ["name"],
        properties: { name: objectNameSchema("Name of the Secret.") },
      },
    },
    storage: storageSchema,
    resources: resourcesSchema,
    affinity: affinitySchema,
    podTemplate: {
      description:
        "An RFC 7396 JSON merge patch ({metadata: {labels, annotations}, spec}) applied to every node's Pod. " +
        "Lists keyed by name (containers, volumes, env, ...) merge by key, so an entry named rqlite changes the " +
        "generated container. Operator-owned fields are rejected. Exclusive with podTemplateConfigMap.",
      type: "object",
      "x-kubernetes-preserve-unknown-fields": true,
    },
    podTemplateConfigMap: {
      title: "PodTemplateConfigMapRef",
      description:
        "The pod template read from a ConfigMap labelled rqlite.io/pod-template. Exclusive with podTemplate.",
      type: "object",
      required: ["name"],
      properties: {
        name: objectNameSchema("Name of the ConfigMap."),
        key: {
          description: "The key holding the JSON template.",
          type: "string",
          maxLength: DNS1123_SUBDOMAIN_MAX_LENGTH,
          pattern: DATA_KEY_PATTERN,
          default: DEFAULT_POD_TEMPLATE_KEY,
        },
      },
    },
    auth: secretRef("Secret with key users.json in rqlite's -auth format; the operator adds its own system user."),
    tls: {
      title: "TLSSpec",
      type: "object",
      properties: {
        http: secretRef("kubernetes.io/tls Secret for rqlite's HTTPS API."),
        node: secretRef("kubernetes.io/tls Secret for node-to-node Raft TLS."),
      },
    },
    network: {
      title: "NetworkSpec",
      type: "object",
      default: {},
      properties: {
        policy: {
          description:
            "Render a NetworkPolicy that admits Raft (4002) only from this cluster's Pods, and the HTTP API (4001) only from them, the operator's namespace and clientSelector. Enforced only where the cluster's network plugin enforces NetworkPolicies.",
          type: "boolean",
          default: true,
        },
        clientSelector: {
          title: "ClientSelector",
          description:
            "Who else may call the HTTP API (4001), as a NetworkPolicy peer. Unset: every Pod in the RqCluster's namespace.",
          type: "object",
          properties: {
            namespaceSelector: labelSelectorSchema(
              "Namespaces whose Pods may connect; unset means the RqCluster's own.",
            ),
            podSelector: labelSelectorSchema("Pods that may connect; unset means all Pods of the selected namespaces."),
          },
        },
      },
    },
    service: serviceSpecSchema(
      "The client Service `<name>`, over every ready node: its type, annotations, labels and load balancer settings.",
    ),
    readService: serviceSpecSchema(
      "The read Service `<name>-ro`, over the ready read replicas (over every ready node while readReplicas is 0), for reads at level none or weak: its type, annotations, labels and load balancer settings.",
    ),
    extraArgs: {
      description: "Extra rqlited flags, e.g. -raft-snap=4096. Flags the operator sets and unknown flags are rejected.",
      type: "array",
      items: { type: "string" },
    },
    env: { description: "Extra environment variables of the rqlite container.", type: "array", items: envVarSchema },
    podDisruptionBudget: {
      title: "PodDisruptionBudgetSpec",
      type: "object",
      default: {},
      properties: {
        maxUnavailable: {
          description: "Voters that may be voluntarily disrupted at once; 0 disables the PodDisruptionBudget.",
          type: "integer",
          format: "int32",
          minimum: 0,
          default: 1,
        },
      },
    },
    maintenance: {
      title: "MaintenanceSpec",
      description:
        "Node maintenance of a cluster too small to lose a voter (1 or 2 voters): while inProgress is true, the PodDisruptionBudget allows one voter to be evicted, so `kubectl drain` can pass; the cluster is unwritable while that voter is away. Set it back to false when the maintenance is done. Clusters of 3 or more voters need no setting: their budget already allows podDisruptionBudget.maxUnavailable.",
      type: "object",
      default: {},
      properties: {
        inProgress: {
          description: "Let a drain evict one voter of a 1- or 2-voter cluster.",
          type: "boolean",
          default: false,
        },
      },
    },
    updateStrategy: {
      title: "UpdateStrategy",
      type: "object",
      default: {},
      properties: {
        type: {
          description:
            "RollingUpdate replaces nodes one at a time, leader last; OnDelete waits for pods to be deleted.",
          type: "string",
          enum: [...UPDATE_STRATEGIES],
          default: "RollingUpdate",
        },
      },
    },
    paused: {
      description: "When true the controller observes the cluster but changes nothing.",
      type: "boolean",
      default: false,
    },
    hibernate: {
      description:
        "When true every Pod is deleted; the PVCs, Services, Secrets and the PodDisruptionBudget stay, and status.phase says Hibernated. Set it back to false to bring the same members back on their volumes, with their Raft state and every row. Changes made meanwhile (image, scale, template) apply on waking.",
      type: "boolean",
      default: false,
    },
    recovery: {
      title: "RecoverySpec",
      description:
        "Rebuild a cluster that lost quorum for good. From its surviving voters' data (source Survivors), by rqlite's peers.json procedure: the survivor with the longest Raft log becomes a one-voter cluster, and the other voters join it afresh; entries that only the lost voters held are lost, and status.recovery says how many may be. Or, when no voter holds data (source Backup), from the newest RqBackup of this cluster whose Verified condition is True: every voter's volume is replaced by a fresh one and the founding voters load the backup; every write after the backup was taken is lost, and status.recovery.backup says which backup and when. Refused while a leader answers or while enough voters may still come back. `kubectl rqlite recover` sets it.",
      type: "object",
      required: ["confirm", "requestedAt"],
      properties: {
        confirm: {
          description:
            "This RqCluster's metadata.uid, typed by the person who accepts the loss: a manifest applied to another cluster of the same name recovers nothing.",
          type: "string",
          maxLength: 64,
        },
        requestedAt: {
          description: "When the recovery was asked for: each new value asks for a new recovery.",
          type: "string",
          format: "date-time",
        },
        source: {
          description:
            "Survivors (the default): rebuild from the voters that kept their data. Backup: no voter kept any, so rebuild from the newest verified RqBackup of this cluster; refused while any voter holds data.",
          type: "string",
          enum: [...RECOVERY_SOURCES],
        },
      },
    },
    backup: clusterBackupSchema,
    restore: clusterRestoreSchema,
  },
};

export const statusSchema: JsonSchema = {
  title: "RqClusterStatus",
  description: "The observed state of the cluster.",
  type: "object",
  properties: {
    observedGeneration: { type: "integer", format: "int64" },
    phase: { type: "string", enum: [...PHASES] },
    replicas: { description: "Voting nodes that exist.", type: "integer", format: "int32" },
    readyReplicas: { description: "Voting nodes that are ready.", type: "integer", format: "int32" },
    readReplicasReady: { description: "Read-only nodes that are ready.", type: "integer", format: "int32" },
    selector: { description: "Label selector of the voting pods, for the scale subresource.", type: "string" },
    leader: { description: "Node id of the Raft leader.", type: "string" },
    currentImage: { description: "The image every node runs once a rollout is done.", type: "string" },
    version: {
      description: "The tag of currentImage (the rqlite version every voter runs); unset mid-roll.",
      type: "string",
    },
    images: {
      description:
        "Every image the cluster's Pods run, mid-roll too: the webhook judges a version change of spec.image against each.",
      type: "array",
      items: { type: "string" },
    },
    members: {
      type: "array",
      items: {
        title: "Member",
        type: "object",
        required: ["id"],
        properties: {
          id: { type: "string" },
          voter: { type: "boolean" },
          ready: { type: "boolean" },
          address: { description: "Raft address.", type: "string" },
        },
      },
    },
    conditions: conditionsSchema("Condition", {
      type: "Ready, Available, Progressing, Degraded, Restored or SecretsReady.",
      reason: "CamelCase reason for the last transition.",
    }),
    backup: {
      title: "ClusterBackupStatus",
      description: "Scheduled and one-shot backups of this cluster.",
      type: "object",
      properties: {
        lastSuccessfulTime: {
          description: "When the newest backup succeeded: an auto-backup upload or a Completed RqBackup.",
          type: "string",
          format: "date-time",
        },
        lastFailure: {
          title: "BackupFailure",
          description: "The newest failed auto-backup upload or retention pass.",
          type: "object",
          properties: {
            time: { type: "string", format: "date-time" },
            message: { type: "string" },
          },
        },
        uploader: {
          title: "UploaderCounts",
          description:
            "The leader's auto-backup counters when last read (rqlite's /debug/vars uploader); a rise is a new upload.",
          type: "object",
          properties: {
            node: { description: "Node id the counters are from; they restart with its process.", type: "string" },
            ok: { type: "integer", format: "int64" },
            fail: { type: "integer", format: "int64" },
          },
        },
        retainedObjects: {
          description: "Objects under the backup path after the last retention pass.",
          type: "integer",
          format: "int32",
        },
      },
    },
    recovery: {
      title: "RecoveryStatus",
      description: "The last quorum-loss recovery asked for by spec.recovery, and what it found and did.",
      type: "object",
      properties: {
        requestedAt: {
          description: "spec.recovery.requestedAt this status answers.",
          type: "string",
          format: "date-time",
        },
        phase: { type: "string", enum: [...RECOVERY_PHASES] },
        message: { description: "Why it was refused, or what it does or did.", type: "string" },
        survivor: { description: "The voter the cluster is rebuilt from.", type: "string" },
        survivors: {
          description: "Every voter whose data could be read, with its Raft indexes.",
          type: "array",
          items: {
            title: "RecoverySurvivor",
            type: "object",
            required: ["id"],
            properties: {
              id: { type: "string" },
              lastLogIndex: { type: "integer", format: "int64" },
              appliedIndex: { type: "integer", format: "int64" },
              commitIndex: { type: "integer", format: "int64" },
              term: { type: "integer", format: "int64" },
            },
          },
        },
        lost: { description: "Voters whose data is gone.", type: "array", items: { type: "string" } },
        entriesLost: {
          description:
            "Raft entries other survivors held beyond the survivor's log, discarded by the recovery; entries only the lost voters held are not counted (no one can read them: see the README's data-loss window).",
          type: "integer",
          format: "int64",
        },
        backup: {
          title: "RecoveryBackup",
          description:
            "The backup a recovery from Backup loaded. Every write after completedAt is lost: that is the recovery's data-loss window.",
          type: "object",
          required: ["name"],
          properties: {
            name: { description: "The RqBackup.", type: "string" },
            location: { description: "s3://<bucket>/<key> of the object loaded.", type: "string" },
            completedAt: {
              description: "When the backup was taken (its status.completedAt).",
              type: "string",
              format: "date-time",
            },
            verifiedAt: {
              description: "When it was verified (its status.verification.verifiedAt).",
              type: "string",
              format: "date-time",
            },
          },
        },
        startedAt: { type: "string", format: "date-time" },
        completedAt: { type: "string", format: "date-time" },
      },
    },
    restore: {
      title: "ClusterRestoreStatus",
      description: "The source spec.restore resolved to, fixed when the founding voters are created.",
      type: "object",
      properties: {
        location: { description: "s3://<bucket>/<key> the founding voters load.", type: "string" },
        resolvedAt: { type: "string", format: "date-time" },
        chosen: {
          description:
            "Why this object, when spec.restore named a time (s3.before): the backups weighed and the one taken last before it.",
          type: "string",
        },
      },
    },
  },
};

export const rqClusterSchema: JsonSchema = resourceSchema(
  "RqCluster",
  "A highly available rqlite cluster.",
  specSchema,
  statusSchema,
);
