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

export function buildCrd(): Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: CRD_NAME },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: LIST_KIND,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: [SHORT_NAME],
        categories: [CATEGORY],
      },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: {
            status: {},
            scale: {
              specReplicasPath: ".spec.replicas",
              statusReplicasPath: ".status.replicas",
              labelSelectorPath: ".status.selector",
            },
          },
          additionalPrinterColumns: [
            { name: "Replicas", type: "integer", description: "Desired voting nodes", jsonPath: ".spec.replicas" },
            { name: "Ready", type: "integer", description: "Ready voting nodes", jsonPath: ".status.readyReplicas" },
            { name: "Leader", type: "string", description: "Node id of the Raft leader", jsonPath: ".status.leader" },
            { name: "Phase", type: "string", jsonPath: ".status.phase" },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: { openAPIV3Schema: toCrdSchema(rqClusterSchema) },
        },
      ],
    },
  };
}

/** The RqBackup CustomResourceDefinition; its spec is immutable by a CEL rule, so no webhook is needed. */
export function buildBackupCrd(): Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: BACKUP_CRD_NAME },
    spec: {
      group: GROUP,
      names: {
        kind: BACKUP_KIND,
        listKind: BACKUP_LIST_KIND,
        plural: BACKUP_PLURAL,
        singular: BACKUP_SINGULAR,
        shortNames: [BACKUP_SHORT_NAME],
        categories: [CATEGORY],
      },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: "Cluster", type: "string", description: "The RqCluster backed up", jsonPath: ".spec.cluster" },
            { name: "Phase", type: "string", jsonPath: ".status.phase" },
            { name: "Size", type: "integer", description: "Bytes written", jsonPath: ".status.size" },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: { openAPIV3Schema: toCrdSchema(rqBackupSchema) },
        },
      ],
    },
  };
}
