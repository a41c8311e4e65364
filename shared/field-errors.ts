// Field errors in the shape and wording of k8s.io/apimachinery/pkg/util/validation/field, so
// admission messages read exactly like the API server's own.

export type FieldErrorType =
  "Invalid" | "Required" | "Unsupported" | "Forbidden" | "TooLong" | "Duplicate" | "TypeInvalid";

export interface FieldError {
  /** Kubernetes field path, e.g. `spec.podTemplate.spec.containers[0].image`. */
  field: string;
  type: FieldErrorType;
  value?: unknown;
  message: string;
}

export interface ValidationResult {
  errors: FieldError[];
  warnings: string[];
}

const TYPE_WORDS: Record<FieldErrorType, string> = {
  Invalid: "Invalid value",
  TypeInvalid: "Invalid value",
  Required: "Required value",
  Unsupported: "Unsupported value",
  Forbidden: "Forbidden",
  TooLong: "Too long",
  Duplicate: "Duplicate value",
};

/** Kinds of error whose rendering leaves the bad value out, as Kubernetes does. */
const VALUELESS: ReadonlySet<FieldErrorType> = new Set(["Required", "Forbidden", "TooLong"]);

export function renderValue(value: unknown): string {
  if (value === undefined || value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (typeof value === "symbol") return value.toString();
  if (typeof value === "function") return `[function ${value.name}]`;
  try {
    // undefined when a toJSON method returns nothing
    const json = JSON.stringify(value) as string | undefined;
    if (json !== undefined) return json;
  } catch {
    // a cycle or a BigInt inside: fall through to the object's tag
  }
  return Object.prototype.toString.call(value);
}

/** `spec.replicas: Invalid value: 12: must be between 1 and 9` */
export function formatFieldError(e: FieldError): string {
  let body = TYPE_WORDS[e.type];
  if (!VALUELESS.has(e.type) && "value" in e) body += `: ${renderValue(e.value)}`;
  if (e.message) body += `: ${e.message}`;
  return e.field ? `${e.field}: ${body}` : body;
}

/**
 * `RqCluster.rqlite.io "demo" is invalid: [a, b]`, the apiserver's StatusReasonInvalid message:
 * one error stands alone, several are bracketed, repeats are dropped.
 */
export function formatErrors(qualifiedKind: string, name: string, errors: readonly FieldError[]): string {
  const head = `${qualifiedKind} ${JSON.stringify(name)} is invalid`;
  const messages = [...new Set(errors.map(formatFieldError))];
  if (messages.length === 0) return head;
  if (messages.length === 1) return `${head}: ${messages[0]}`;
  return `${head}: [${messages.join(", ")}]`;
}

export function supportedValues(values: readonly unknown[]): string {
  return `supported values: ${values.map(renderValue).join(", ")}`;
}

// Path builders mirroring field.Path's Child, Index and Key.
export function child(base: string, name: string): string {
  return base ? `${base}.${name}` : name;
}

export function index(base: string, i: number): string {
  return `${base}[${i}]`;
}

export function key(base: string, k: string): string {
  return `${base}[${k}]`;
}
