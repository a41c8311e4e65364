import type { FieldError } from "./field-errors.js";

// Kubernetes' name syntaxes (k8s.io/apimachinery/pkg/util/validation). Each check returns the
// reasons a value fails, empty when it is valid, so callers can attach them to a field path.

const DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
/** The schema patterns of names (with a maxLength beside them), so the CRDs refuse what the webhook does. */
export const DNS1123_LABEL_PATTERN = `^${DNS1123_LABEL}$`;
export const DNS1123_SUBDOMAIN_PATTERN = `^${DNS1123_LABEL}(\\.${DNS1123_LABEL})*$`;
/** A key of a Secret's or a ConfigMap's data. */
export const DATA_KEY_PATTERN = "^[-._a-zA-Z0-9]+$";
const DNS1123_LABEL_RE = new RegExp(DNS1123_LABEL_PATTERN);
const DNS1123_SUBDOMAIN_RE = new RegExp(DNS1123_SUBDOMAIN_PATTERN);
const DNS1035_LABEL_RE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const CONFIG_MAP_KEY_RE = new RegExp(DATA_KEY_PATTERN);

export const DNS1123_LABEL_SYNTAX =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')";
export const DNS1123_SUBDOMAIN_SYNTAX =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')";
export const DATA_KEY_SYNTAX = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";

export const DNS1123_SUBDOMAIN_MAX_LENGTH = 253;
const LABEL_MAX_LENGTH = 63;

function maxLength(value: string, max: number): string[] {
  return value.length > max ? [`must be no more than ${max} characters`] : [];
}

function matching(value: string, max: number, re: RegExp, syntax: string): string[] {
  return [...maxLength(value, max), ...(re.test(value) ? [] : [syntax])];
}

export function dns1123Label(value: string): string[] {
  return matching(value, LABEL_MAX_LENGTH, DNS1123_LABEL_RE, DNS1123_LABEL_SYNTAX);
}

export function dns1035Label(value: string): string[] {
  return matching(
    value,
    LABEL_MAX_LENGTH,
    DNS1035_LABEL_RE,
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name', or 'abc-123')",
  );
}

export function dns1123Subdomain(value: string): string[] {
  return matching(value, DNS1123_SUBDOMAIN_MAX_LENGTH, DNS1123_SUBDOMAIN_RE, DNS1123_SUBDOMAIN_SYNTAX);
}

/** A label or annotation key: `[prefix/]name`, the prefix a DNS subdomain. */
export function qualifiedName(value: string): string[] {
  // indexOf rather than split: label and resource keys are checked on every admission.
  const slash = value.indexOf("/");
  if (slash >= 0 && value.includes("/", slash + 1)) return ["a qualified name may contain at most one '/'"];
  const name = value.slice(slash + 1); // all of value when there is no slash
  const errs: string[] = [];
  if (slash >= 0) {
    const prefix = value.slice(0, slash);
    if (prefix.length === 0) errs.push("prefix part must be non-empty");
    else errs.push(...dns1123Subdomain(prefix).map((e) => `prefix part ${e}`));
  }
  if (name.length === 0) return [...errs, "name part must be non-empty"];
  errs.push(...maxLength(name, LABEL_MAX_LENGTH).map((e) => `name part ${e}`));
  if (!QUALIFIED_NAME_RE.test(name)) {
    errs.push(
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc')",
    );
  }
  return errs;
}

export function labelValue(value: string): string[] {
  if (value === "") return [];
  return matching(
    value,
    LABEL_MAX_LENGTH,
    QUALIFIED_NAME_RE,
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', or 'my_value', or '12345')",
  );
}

export function configMapKey(value: string): string[] {
  const errs = matching(value, DNS1123_SUBDOMAIN_MAX_LENGTH, CONFIG_MAP_KEY_RE, DATA_KEY_SYNTAX);
  return value === "." || value === ".." ? [...errs, `must not be '${value}'`] : errs;
}

/**
 * The part of a data key's rule no pattern states: "." and ".." are refused (the characters are
 * the schema's DATA_KEY_PATTERN). Undefined and other types are left to the schema.
 */
export function dotKeyErrors(value: unknown, field: string): FieldError[] {
  if (value !== "." && value !== "..") return [];
  return [{ field, type: "Invalid", value, message: `must not be '${value}'` }];
}

/** Kubernetes 1.34 accepts any printable ASCII except '=' in environment variable names. */
export function envVarName(value: string): string[] {
  return /^[\x20-\x3c\x3e-\x7e]+$/.test(value)
    ? []
    : ["a valid environment variable name must consist only of printable ASCII characters other than '='"];
}
