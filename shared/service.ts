// spec.service and spec.readService: how the client Service `<name>` and the read Service
// `<name>-ro` are exposed. Both are hostile input that reaches the API server as a Service, so
// each part is judged as Kubernetes judges a Service (keys, values, CIDRs, which fields a type
// allows), by the webhook and again by the controller.
import { child, index, key, type FieldError } from "./field-errors.js";
import type { JsonSchema } from "./json-schema.js";
import { getOwn, isPlainObject } from "./json-value.js";
import { labelValue, qualifiedName } from "./k8s-names.js";
import { DESCRIPTIVE_LABELS, isOperatorOwnedAnnotation, isOperatorOwnedLabel } from "./names.js";
import { ipBytes } from "./s3-endpoint.js";

export const SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer"] as const;
export const EXTERNAL_TRAFFIC_POLICIES = ["Cluster", "Local"] as const;
/** Bounds on what one object may ask for, far above any real use. */
export const MAX_SERVICE_METADATA_KEYS = 64;
export const MAX_SOURCE_RANGES = 64;
/** Kubernetes' limit on the total size of an object's annotations (TotalAnnotationSizeLimitB). */
export const ANNOTATIONS_TOTAL_BYTES = 256 * 1024;
/** The annotation cloud providers read source ranges from; Kubernetes parses it as CIDRs too. */
export const SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges";

export const serviceSpecSchema = (description: string): JsonSchema => ({
  title: "ServiceSpec",
  description,
  type: "object",
  properties: {
    type: {
      description: "ClusterIP (when unset), NodePort or LoadBalancer.",
      type: "string",
      enum: [...SERVICE_TYPES],
    },
    annotations: {
      description:
        "Annotations of the Service, e.g. a cloud's internal load balancer annotation. Keys under rqlite.io/ are the operator's.",
      type: "object",
      maxProperties: MAX_SERVICE_METADATA_KEYS,
      additionalProperties: { type: "string" },
    },
    labels: {
      description: "Labels of the Service, beside the operator's own (which they may not set).",
      type: "object",
      maxProperties: MAX_SERVICE_METADATA_KEYS,
      additionalProperties: { type: "string" },
    },
    loadBalancerSourceRanges: {
      description: "Client CIDRs a LoadBalancer admits, where the cloud supports it; only with type LoadBalancer.",
      type: "array",
      maxItems: MAX_SOURCE_RANGES,
      items: { type: "string" },
    },
    externalTrafficPolicy: {
      description:
        "Local keeps the client's source address and routes only to nodes with a ready rqlite Pod; only with type NodePort or LoadBalancer.",
      type: "string",
      enum: [...EXTERNAL_TRAFFIC_POLICIES],
    },
  },
});

/**
 * A CIDR as Kubernetes takes one in loadBalancerSourceRanges: an IPv4 or IPv6 address, a slash,
 * and a prefix length that fits it. Leading zeros in the IPv4 octets are refused, as Go's parser
 * refuses them.
 */
export function cidrErrors(text: string): string[] {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  const address = m?.[1] ?? "";
  const v6 = address.includes(":");
  if (!m || !ipBytes(address) || (!v6 && /(^|\.)0\d/.test(address)))
    return ["must be a CIDR such as 10.0.0.0/8 or fd00::/8"];
  // ipBytes maps ::ffff:a.b.c.d to IPv4; the prefix length still counts IPv6 bits then.
  const width = v6 ? 128 : 32;
  return Number(m[2]) <= width ? [] : [`prefix length must be at most ${width}`];
}

function metadataMapErrors(map: unknown, path: string, kind: "labels" | "annotations"): FieldError[] {
  if (!isPlainObject(map)) return [];
  const errors: FieldError[] = [];
  let bytes = 0;
  for (const [k, v] of Object.entries(map)) {
    bytes += k.length + (typeof v === "string" ? v.length : 0);
    // Kubernetes checks annotation keys lower-cased, and label keys as written.
    for (const m of qualifiedName(kind === "annotations" ? k.toLowerCase() : k))
      errors.push({ field: path, type: "Invalid", value: k, message: m });
    if (kind === "labels" && typeof v === "string")
      for (const m of labelValue(v)) errors.push({ field: key(path, k), type: "Invalid", value: v, message: m });
    const owned =
      kind === "annotations" ? isOperatorOwnedAnnotation(k) : isOperatorOwnedLabel(k) || DESCRIPTIVE_LABELS.includes(k);
    if (owned)
      errors.push({
        field: key(path, k),
        type: "Forbidden",
        message: "is set by the operator: it finds and describes its children by these keys",
      });
  }
  if (kind === "annotations" && bytes > ANNOTATIONS_TOTAL_BYTES)
    errors.push({
      field: path,
      type: "TooLong",
      value: `${bytes} bytes`,
      message: `may not have more than ${ANNOTATIONS_TOTAL_BYTES} bytes of keys and values in total`,
    });
  return errors;
}

/** Every rule of one ServiceSpec at `path` (spec.service or spec.readService). */
export function serviceSpecErrors(service: unknown, path: string): FieldError[] {
  if (!isPlainObject(service)) return [];
  const type = getOwn(service, "type") ?? "ClusterIP";
  const errors: FieldError[] = [
    ...metadataMapErrors(getOwn(service, "annotations"), child(path, "annotations"), "annotations"),
    ...metadataMapErrors(getOwn(service, "labels"), child(path, "labels"), "labels"),
  ];
  const ranges = getOwn(service, "loadBalancerSourceRanges");
  const rangesPath = child(path, "loadBalancerSourceRanges");
  if (Array.isArray(ranges)) {
    ranges.forEach((r, i) => {
      if (typeof r === "string")
        for (const m of cidrErrors(r.trim()))
          errors.push({ field: index(rangesPath, i), type: "Invalid", value: r, message: m });
    });
    if (ranges.length > 0 && type !== "LoadBalancer")
      errors.push({ field: rangesPath, type: "Forbidden", message: "may only be used when `type` is 'LoadBalancer'" });
  }
  const annotations = getOwn(service, "annotations");
  const annotated = isPlainObject(annotations) ? getOwn(annotations, SOURCE_RANGES_ANNOTATION) : undefined;
  if (typeof annotated === "string") {
    const at = key(child(path, "annotations"), SOURCE_RANGES_ANNOTATION);
    for (const r of annotated.split(",")) {
      for (const m of cidrErrors(r.trim())) errors.push({ field: at, type: "Invalid", value: r, message: m });
    }
  }
  const policy = getOwn(service, "externalTrafficPolicy");
  if (policy !== undefined && type !== "NodePort" && type !== "LoadBalancer")
    errors.push({
      field: child(path, "externalTrafficPolicy"),
      type: "Forbidden",
      message: "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
    });
  return errors;
}
