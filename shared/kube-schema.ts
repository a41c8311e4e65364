// The parts every kind's schema shares with the Kubernetes API: the object's frame
// (apiVersion, kind, metadata, spec, status) and metav1.Condition as the API defines it.
import type { JsonSchema } from "./json-schema.js";

/**
 * `status.conditions`: a list of metav1.Condition keyed by type. `title` names the generated
 * type; `describe` adds descriptions to the condition's `type` (the kind's own types) and `reason`.
 */
export function conditionsSchema(title: string, describe: { type?: string; reason?: string } = {}): JsonSchema {
  return {
    type: "array",
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
    items: {
      title,
      description: "metav1.Condition.",
      type: "object",
      required: ["type", "status", "lastTransitionTime", "reason", "message"],
      properties: {
        type: { ...(describe.type && { description: describe.type }), type: "string", maxLength: 316 },
        status: { type: "string", enum: ["True", "False", "Unknown"] },
        observedGeneration: { type: "integer", format: "int64", minimum: 0 },
        lastTransitionTime: { type: "string", format: "date-time" },
        reason: {
          ...(describe.reason && { description: describe.reason }),
          type: "string",
          maxLength: 1024,
          pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        },
        message: { type: "string", maxLength: 32768 },
      },
    },
  };
}

/** A top-level API object of one kind: its frame around `spec` and `status`. */
export function resourceSchema(title: string, description: string, spec: JsonSchema, status: JsonSchema): JsonSchema {
  return {
    title,
    description,
    type: "object",
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { title: "ObjectMeta", type: "object" },
      spec,
      status,
    },
  };
}
