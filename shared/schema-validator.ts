// Checks a value against a JsonSchema with ajv and reports what fails as Kubernetes field errors.
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { child, index, key, supportedValues, type FieldError } from "./field-errors.js";
import { KUBERNETES_ANNOTATION_KEYWORDS, type JsonSchema } from "./json-schema.js";
import {
  DATA_KEY_PATTERN,
  DATA_KEY_SYNTAX,
  DNS1123_LABEL_PATTERN,
  DNS1123_LABEL_SYNTAX,
  DNS1123_SUBDOMAIN_PATTERN,
  DNS1123_SUBDOMAIN_SYNTAX,
} from "./k8s-names.js";
import { QUANTITY_PATTERN } from "./quantity.js";

/** What a pattern means, in Kubernetes' own words, for patterns a person should not have to read. */
const PATTERN_MEANINGS: Record<string, string> = {
  [QUANTITY_PATTERN]: "must be a quantity such as 500m, 2 or 1Gi",
  [DNS1123_SUBDOMAIN_PATTERN]: DNS1123_SUBDOMAIN_SYNTAX,
  [DNS1123_LABEL_PATTERN]: DNS1123_LABEL_SYNTAX,
  [DATA_KEY_PATTERN]: DATA_KEY_SYNTAX,
};

// ajv-formats is CommonJS: its default import is module.exports, which carries the plugin as `default`.
const addFormats = addFormatsModule.default;

const INT_OR_STRING = "x-kubernetes-int-or-string";

function newAjv(): Ajv {
  // verbose keeps the failing data and parent schema on each error, for the messages below.
  // strictTypes is off because an int-or-string node carries a string `pattern` without a `type`,
  // which is exactly how structural CRD schemas spell a quantity.
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictTypes: false });
  addFormats(ajv);
  for (const keyword of KUBERNETES_ANNOTATION_KEYWORDS) ajv.addKeyword({ keyword });
  ajv.addKeyword({
    keyword: INT_OR_STRING,
    schemaType: "boolean",
    validate: (on: boolean, data: unknown) => !on || Number.isInteger(data) || typeof data === "string",
  });
  return ajv;
}

let ajv: Ajv | undefined;
const compiled = new WeakMap<JsonSchema, ValidateFunction>();

function validatorFor(schema: JsonSchema): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    ajv ??= newAjv();
    fn = ajv.compile(schema);
    compiled.set(schema, fn);
  }
  return fn;
}

function decodePointer(pointer: string): string[] {
  return pointer === ""
    ? []
    : pointer
        .slice(1)
        .split("/")
        .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/**
 * Turns ajv's JSON pointer into a Kubernetes path. The schema path says what each step is: a
 * declared property (`.name`), an array item (`[i]`) or a map entry (`[key]`).
 */
function fieldPath(basePath: string, e: ErrorObject): string {
  const steps = decodePointer(e.instancePath);
  const schemaSteps = decodePointer(e.schemaPath.replace(/^#/, ""));
  let path = basePath;
  let s = 0;
  for (const step of steps) {
    while (s < schemaSteps.length && !["properties", "items", "additionalProperties"].includes(schemaSteps[s]!)) s++;
    const how = schemaSteps[s];
    if (how === "properties") {
      path = child(path, step);
      s += 2;
    } else if (how === "items") {
      path = index(path, Number(step));
      s += 1;
    } else {
      path = key(path, step);
      s += 1;
    }
  }
  return path;
}

function toFieldError(basePath: string, e: ErrorObject): FieldError {
  const field = fieldPath(basePath, e);
  const parent = (e.parentSchema ?? {}) as JsonSchema;
  const value = e.data;
  switch (e.keyword) {
    case "required":
      return { field: child(field, String(e.params.missingProperty)), type: "Required", message: "" };
    case "type":
      return { field, type: "TypeInvalid", value, message: `must be of type ${String(e.params.type)}` };
    case INT_OR_STRING:
      return { field, type: "TypeInvalid", value, message: "must be an integer or a string" };
    case "enum":
      return { field, type: "Unsupported", value, message: supportedValues(parent.enum ?? []) };
    case "minimum":
    case "maximum": {
      const { minimum, maximum } = parent;
      const message =
        minimum !== undefined && maximum !== undefined
          ? `must be between ${minimum} and ${maximum}`
          : minimum !== undefined
            ? `must be greater than or equal to ${minimum}`
            : `must be less than or equal to ${maximum}`;
      return { field, type: "Invalid", value, message };
    }
    case "maxLength":
      return { field, type: "TooLong", value, message: `may not be more than ${parent.maxLength} bytes` };
    case "maxItems":
      return {
        field,
        type: "Invalid",
        value: `${(value as unknown[]).length} items`,
        message: `must have at most ${parent.maxItems} items`,
      };
    case "maxProperties":
      return {
        field,
        type: "Invalid",
        value: `${Object.keys(value as object).length} keys`,
        message: `must have at most ${parent.maxProperties} keys`,
      };
    case "pattern":
      return {
        field,
        type: "Invalid",
        value,
        message: PATTERN_MEANINGS[parent.pattern ?? ""] ?? `must match the regular expression '${parent.pattern}'`,
      };
    case "format":
      return { field, type: "Invalid", value, message: `must be a valid ${String(e.params.format)}` };
    default:
      return { field, type: "Invalid", value, message: e.message ?? `fails ${e.keyword}` };
  }
}

/** Every schema violation of `value`, pathed below `basePath`. */
export function schemaErrors(schema: JsonSchema, value: unknown, basePath: string): FieldError[] {
  const validate = validatorFor(schema);
  if (validate(value)) return [];
  const errors = (validate.errors ?? []).map((e) => toFieldError(basePath, e));
  // A value of the wrong type also fails its format and range keywords; the type says it all.
  const mistyped = new Set(errors.filter((e) => e.type === "TypeInvalid").map((e) => e.field));
  return errors.filter((e) => e.type === "TypeInvalid" || !mistyped.has(e.field));
}
