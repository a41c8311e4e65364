// The subset of OpenAPI v3 the RqCluster schema uses: exactly what a structural CRD schema
// accepts, so one object can feed the CRD, the validator and the type generator unchanged.

export type SchemaType = "object" | "array" | "string" | "integer" | "number" | "boolean";

export interface JsonSchema {
  /** Names the generated TypeScript interface; dropped from the CRD. */
  title?: string;
  description?: string;
  type?: SchemaType;
  format?: string;
  enum?: readonly (string | number | boolean)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  maxItems?: number;
  maxProperties?: number;
  pattern?: string;
  nullable?: boolean;
  properties?: Record<string, JsonSchema>;
  required?: readonly string[];
  additionalProperties?: JsonSchema;
  items?: JsonSchema;
  "x-kubernetes-int-or-string"?: true;
  "x-kubernetes-preserve-unknown-fields"?: true;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: readonly string[];
  "x-kubernetes-map-type"?: "atomic" | "granular";
  /** CEL rules the API server enforces (transition rules such as immutability); ajv ignores them. */
  "x-kubernetes-validations"?: readonly { rule: string; message?: string; fieldPath?: string; reason?: string }[];
}

/** Keywords that only annotate a schema for Kubernetes; the validator must accept, not enforce, them. */
export const KUBERNETES_ANNOTATION_KEYWORDS = [
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-map-type",
  "x-kubernetes-validations",
] as const;
