// Rules for environment variables beyond their schema, as the API server applies them to Pods.
import { child, type FieldError } from "./field-errors.js";
import { getOwn, isPlainObject } from "./json-value.js";
import { envVarName } from "./k8s-names.js";

const SOURCES = ["configMapKeyRef", "fieldRef", "fileKeyRef", "resourceFieldRef", "secretKeyRef"];

/** Checks one EnvVar whose types are already known to the caller's schema check. */
export function envVarErrors(env: unknown, path: string): FieldError[] {
  if (!isPlainObject(env)) return [];
  const errors: FieldError[] = [];
  const name = getOwn(env, "name");
  if (typeof name === "string" && name !== "") {
    for (const m of envVarName(name))
      errors.push({ field: child(path, "name"), type: "Invalid", value: name, message: m });
  } else if (name === "") {
    errors.push({ field: child(path, "name"), type: "Required", message: "" });
  }
  const value = getOwn(env, "value");
  const valueFrom = getOwn(env, "valueFrom");
  if (!isPlainObject(valueFrom)) return errors;
  const at = child(path, "valueFrom");
  if (typeof value === "string" && value !== "") {
    errors.push({ field: at, type: "Invalid", value: "", message: "may not be specified when `value` is not empty" });
  }
  const set = SOURCES.filter((s) => getOwn(valueFrom, s) !== undefined && getOwn(valueFrom, s) !== null);
  if (set.length === 0) {
    errors.push({
      field: at,
      type: "Invalid",
      value: "",
      message: `must specify one of: ${SOURCES.map((s) => `\`${s}\``).join(", ")}`,
    });
  } else if (set.length > 1) {
    errors.push({
      field: at,
      type: "Invalid",
      value: "",
      message: "may not have more than one field specified at a time",
    });
  }
  return errors;
}
