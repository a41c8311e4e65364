// Validates JSON against the Kubernetes OpenAPI schemas in data/pod-openapi.json: types,
// formats, enums, unknown fields, required fields and list-map key uniqueness, with Kubernetes
// field paths. Used for pod templates and for the EnvVar sources in spec.env.
import podOpenApi from "./data/pod-openapi.json" with { type: "json" };
import { child, index, key, supportedValues, type FieldError } from "./field-errors.js";
import { getOwn, isPlainObject } from "./json-value.js";
import { QUANTITY, REF_PREFIX, type OpenApiSchema, type PodOpenApi } from "./pod-openapi.js";
import { parseQuantity } from "./quantity.js";

const schemas = (podOpenApi as PodOpenApi).schemas;

export interface OpenApiCheckOptions {
  /**
   * Whether required fields must be present at the top. Objects a template merges into the
   * generated Pod may leave them to the operator; array items are always new and complete,
   * unless isExistingItem says the item merges into one the operator generates.
   */
  requireFields: boolean;
  isExistingItem?: (listPath: string, item: unknown) => boolean;
}

interface Resolved {
  schema: OpenApiSchema;
  /** The named type the schema came from, for messages. */
  typeName?: string;
}

/** Follows `$ref` and the `allOf: [{$ref}]` wrapper Kubernetes puts around every reference. */
function resolveUncached(schema: OpenApiSchema, typeName?: string): Resolved {
  if (schema.$ref) {
    const name = schema.$ref.slice(REF_PREFIX.length);
    const target = schemas[name];
    if (!target) throw new Error(`shared/data/pod-openapi.json lacks ${name}; run tsx hack/refresh-pod-schema.ts`);
    return resolveUncached(target, name);
  }
  if (schema.allOf?.length === 1) return resolveUncached(schema.allOf[0]!, typeName);
  return { schema, typeName };
}

/** Schemas are immutable, and every field of every template resolves one: resolve each once. */
const resolved = new WeakMap<OpenApiSchema, Resolved>();

/** The schema `raw` stands for; typeName is that of the last `$ref` followed, if any. */
function resolve(raw: OpenApiSchema): Resolved {
  let r = resolved.get(raw);
  if (!r) {
    r = resolveUncached(raw);
    resolved.set(raw, r);
  }
  return r;
}

/** One reference object per name, so that resolving it hits the cache above. */
const named = new Map<string, OpenApiSchema>();

export function namedSchema(name: string): OpenApiSchema {
  let ref = named.get(name);
  if (!ref) {
    ref = { $ref: `${REF_PREFIX}${name}` };
    named.set(name, ref);
  }
  return ref;
}

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

const IS_TYPE: Record<string, (v: unknown) => boolean> = {
  object: isPlainObject,
  array: Array.isArray,
  string: (v) => typeof v === "string",
  integer: Number.isInteger,
  number: (v) => typeof v === "number" && Number.isFinite(v),
  boolean: (v) => typeof v === "boolean",
};

function typeError(schema: OpenApiSchema, value: unknown, path: string): FieldError | undefined {
  const check = schema.type ? IS_TYPE[schema.type] : undefined;
  if (check && !check(value))
    return { field: path, type: "TypeInvalid", value, message: `must be of type ${schema.type}` };
  if (schema.format === "int32" && typeof value === "number" && (value < INT32.min || value > INT32.max)) {
    return { field: path, type: "Invalid", value, message: "must fit in a 32-bit integer" };
  }
  return undefined;
}

function listKey(item: unknown, keys: readonly string[]): string | undefined {
  if (!isPlainObject(item)) return undefined;
  const values = keys.map((k) => getOwn(item, k));
  return values.some((v) => v === undefined || v === null) ? undefined : JSON.stringify(values);
}

class Walker {
  readonly errors: FieldError[] = [];
  constructor(private readonly opts: OpenApiCheckOptions) {}

  check(raw: OpenApiSchema, value: unknown, path: string, requireFields: boolean, outerType?: string): void {
    // Absent is fine, and null is a merge patch's "remove this field": whether a field may be
    // removed is a rule of the caller, and a required field set to null is reported missing.
    if (value === null || value === undefined) return;
    const { schema, typeName = outerType } = resolve(raw);
    if (typeName === QUANTITY) {
      if (parseQuantity(value) === undefined)
        this.errors.push({ field: path, type: "Invalid", value, message: "must be a quantity such as 500m, 2 or 1Gi" });
      return;
    }
    if (schema.format === "int-or-string") {
      if (!Number.isInteger(value) && typeof value !== "string")
        this.errors.push({ field: path, type: "TypeInvalid", value, message: "must be an integer or a string" });
      return;
    }
    const wrongType = typeError(schema, value, path);
    if (wrongType) return void this.errors.push(wrongType);
    if (schema.enum && !schema.enum.includes(value)) {
      this.errors.push({ field: path, type: "Unsupported", value, message: supportedValues(schema.enum) });
    }
    if (isPlainObject(value)) this.object(schema, value, path, requireFields, typeName);
    else if (Array.isArray(value) && schema.items) this.array(schema, value, path, typeName);
  }

  private object(
    schema: OpenApiSchema,
    value: Record<string, unknown>,
    path: string,
    requireFields: boolean,
    typeName?: string,
  ): void {
    const extra = schema.additionalProperties;
    // Keys and a lookup rather than Object.entries: no [key, value] array per field on every admission.
    for (const k of Object.keys(value)) {
      const v = value[k];
      const prop = schema.properties && Object.hasOwn(schema.properties, k) ? schema.properties[k] : undefined;
      if (prop) this.check(prop, v, child(path, k), requireFields, typeName);
      else if (typeof extra === "object") this.check(extra, v, key(path, k), requireFields, typeName);
      else if (extra !== true) {
        this.errors.push({
          field: child(path, k),
          type: "Forbidden",
          message: `unknown field "${k}" in ${shortName(typeName)}`,
        });
      }
    }
    if (!requireFields) return;
    for (const r of schema.required ?? []) {
      const v = getOwn(value, r);
      if (v === undefined || v === null) this.errors.push({ field: child(path, r), type: "Required", message: "" });
    }
  }

  private array(schema: OpenApiSchema, value: unknown[], path: string, typeName?: string): void {
    const keys = schema["x-kubernetes-list-map-keys"];
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const itemPath = index(path, i);
      const existing = this.opts.isExistingItem?.(path, item) ?? false;
      this.check(schema.items!, item, itemPath, !existing, typeName);
      const k = keys && listKey(item, keys);
      if (!k) return;
      if (seen.has(k)) {
        const single = keys.length === 1;
        this.errors.push({
          field: single ? child(itemPath, keys[0]!) : itemPath,
          type: "Duplicate",
          value: single
            ? getOwn(item as Record<string, unknown>, keys[0]!)
            : Object.fromEntries(keys.map((n) => [n, getOwn(item as Record<string, unknown>, n)])),
          message: "",
        });
      }
      seen.add(k);
    });
  }
}

function shortName(typeName: string | undefined): string {
  return typeName ? typeName.slice(typeName.lastIndexOf(".") + 1) : "this object";
}

/** Every way `value` breaks the named Kubernetes schema (e.g. POD_SPEC), pathed below `path`. */
export function checkAgainstSchema(
  typeName: string,
  value: unknown,
  path: string,
  opts: OpenApiCheckOptions,
): FieldError[] {
  const walker = new Walker(opts);
  walker.check(namedSchema(typeName), value, path, opts.requireFields);
  return walker.errors;
}

/** The properties a named object schema declares, e.g. the volume sources of a Volume. */
export function schemaProperties(typeName: string): string[] {
  return Object.keys(resolve(namedSchema(typeName)).schema.properties ?? {});
}
