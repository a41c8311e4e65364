// The schema package: everything webhook/ and controller/ may use from shared/.
export * from "./names.js";
export * from "./field-errors.js";
export * from "./quantity.js";
export * from "./k8s-names.js";
export * from "./image.js";
export * from "./rqlited-flags.js";
export * from "./json-schema.js";
export * from "./json-value.js";
export * from "./schema.js";
export * from "./schema-validator.js";
export * from "./defaults.js";
export * from "./crd.js";
export type * from "./object-meta.js";
export type * from "./types.generated.js";
