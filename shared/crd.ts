// The CustomResourceDefinition, derived from shared/schema.ts; crds/ holds its YAML rendering.
import type { JsonSchema } from "./json-schema.js";
import { CATEGORY, CRD_NAME, GROUP, KIND, LIST_KIND, PLURAL, SHORT_NAME, SINGULAR, VERSION } from "./names.js";
import { rqClusterSchema } from "./schema.js";
import { rqBackupSchema } from "./backup-schema.js";
import {
  BACKUP_CRD_NAME,
  BACKUP_KIND,
  BACKUP_LIST_KIND,
  BACKUP_PLURAL,
  BACKUP_SHORT_NAME,
  BACKUP_SINGULAR,
} from "./backup-names.js";
import {
  rqScheduledBackupSchema,
  SCHEDULED_BACKUP_CRD_NAME,
  SCHEDULED_BACKUP_KIND,
  SCHEDULED_BACKUP_LIST_KIND,
  SCHEDULED_BACKUP_PLURAL,
  SCHEDULED_BACKUP_SHORT_NAME,
  SCHEDULED_BACKUP_SINGULAR,
} from "./scheduled-backup-schema.js";

/** The schema as a structural CRD wants it: `title` only names generated types, so it goes. */
export function toCrdSchema(schema: JsonSchema): JsonSchema {
  const { properties, additionalProperties, items, ...rest } = schema;
  delete rest.title;
  return {
    ...rest,
    ...(properties && {
      properties: Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, toCrdSchema(v)])),
    }),
    ...(additionalProperties && { additionalProperties: toCrdSchema(additionalProperties) }),
    ...(items && { items: toCrdSchema(items) }),
  };
}

/** What tells one of the operator's namespaced CustomResourceDefinitions from another. */
interface CrdParts {
  crdName: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortName: string;
  subresources: Record<string, unknown>;
  columns: Record<string, unknown>[];
  schema: JsonSchema;
}

/** A namespaced CRD of the group with one served, stored version. */
function namespacedCrd(p: CrdParts): Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: p.crdName },
    spec: {
      group: GROUP,
      names: {
        kind: p.kind,
        listKind: p.listKind,
        plural: p.plural,
        singular: p.singular,
        shortNames: [p.shortName],
        categories: [CATEGORY],
      },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: p.subresources,
          additionalPrinterColumns: p.columns,
          schema: { openAPIV3Schema: toCrdSchema(p.schema) },
        },
      ],
    },
  };
}

export function buildCrd(): Record<string, unknown> {
  return namespacedCrd({
    crdName: CRD_NAME,
    kind: KIND,
    listKind: LIST_KIND,
    plural: PLURAL,
    singular: SINGULAR,
    shortName: SHORT_NAME,
    subresources: {
      status: {},
      scale: {
        specReplicasPath: ".spec.replicas",
        statusReplicasPath: ".status.replicas",
        labelSelectorPath: ".status.selector",
      },
    },
    columns: [
      { name: "Replicas", type: "integer", description: "Desired voting nodes", jsonPath: ".spec.replicas" },
      { name: "Ready", type: "integer", description: "Ready voting nodes", jsonPath: ".status.readyReplicas" },
      { name: "Leader", type: "string", description: "Node id of the Raft leader", jsonPath: ".status.leader" },
      { name: "Version", type: "string", description: "rqlite version every voter runs", jsonPath: ".status.version" },
      { name: "Phase", type: "string", jsonPath: ".status.phase" },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    ],
    schema: rqClusterSchema,
  });
}

/** The RqBackup CustomResourceDefinition; its spec is immutable by a CEL rule, so no webhook is needed. */
export function buildBackupCrd(): Record<string, unknown> {
  return namespacedCrd({
    crdName: BACKUP_CRD_NAME,
    kind: BACKUP_KIND,
    listKind: BACKUP_LIST_KIND,
    plural: BACKUP_PLURAL,
    singular: BACKUP_SINGULAR,
    shortName: BACKUP_SHORT_NAME,
    subresources: { status: {} },
    columns: [
      { name: "Cluster", type: "string", description: "The RqCluster backed up", jsonPath: ".spec.cluster" },
      { name: "Phase", type: "string", jsonPath: ".status.phase" },
      { name: "Size", type: "integer", description: "Bytes written", jsonPath: ".status.size" },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    ],
    schema: rqBackupSchema,
  });
}

/** The RqScheduledBackup CustomResourceDefinition. */
export function buildScheduledBackupCrd(): Record<string, unknown> {
  return namespacedCrd({
    crdName: SCHEDULED_BACKUP_CRD_NAME,
    kind: SCHEDULED_BACKUP_KIND,
    listKind: SCHEDULED_BACKUP_LIST_KIND,
    plural: SCHEDULED_BACKUP_PLURAL,
    singular: SCHEDULED_BACKUP_SINGULAR,
    shortName: SCHEDULED_BACKUP_SHORT_NAME,
    subresources: { status: {} },
    columns: [
      { name: "Cluster", type: "string", description: "The RqCluster backed up", jsonPath: ".spec.backup.cluster" },
      { name: "Schedule", type: "string", jsonPath: ".spec.schedule" },
      { name: "Suspend", type: "boolean", jsonPath: ".spec.suspend" },
      { name: "Last", type: "date", description: "The last firing", jsonPath: ".status.lastScheduleTime" },
      { name: "Next", type: "string", description: "The next firing", jsonPath: ".status.nextScheduleTime" },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    ],
    schema: rqScheduledBackupSchema,
  });
}
