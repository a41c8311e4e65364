// The shape of shared/data/pod-openapi.json: the Kubernetes OpenAPI v3 schemas reachable from
// PodSpec and ObjectMeta, as served by kube-apiserver (written by hack/refresh-pod-schema.ts).

export const REF_PREFIX = "#/components/schemas/";
export const POD_SPEC = "io.k8s.api.core.v1.PodSpec";
export const OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
export const VOLUME = "io.k8s.api.core.v1.Volume";
export const ENV_VAR_SOURCE = "io.k8s.api.core.v1.EnvVarSource";
export const QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity";
export const POD_OPENAPI_ROOTS = [POD_SPEC, OBJECT_META] as const;

export interface OpenApiSchema {
  type?: string;
  format?: string;
  enum?: unknown[];
  properties?: Record<string, OpenApiSchema>;
  additionalProperties?: OpenApiSchema | boolean;
  items?: OpenApiSchema;
  required?: string[];
  allOf?: OpenApiSchema[];
  oneOf?: OpenApiSchema[];
  $ref?: string;
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-list-type"?: string;
}

export interface PodOpenApi {
  /** Where and from which Kubernetes version the schemas came. */
  source: string;
  schemas: Record<string, OpenApiSchema>;
}
