// Rules for a container's ResourceRequirements beyond their schema: quantities are not
// negative and no request exceeds the limit of the same resource.
import { child, key, type FieldError } from "./field-errors.js";
import { getOwn, isPlainObject, objectAt } from "./json-value.js";
import { qualifiedName } from "./k8s-names.js";
import { compareQuantities, isNegative, parseQuantity } from "./quantity.js";

function listErrors(list: Record<string, unknown>, path: string): FieldError[] {
  const errors: FieldError[] = [];
  for (const [name, raw] of Object.entries(list)) {
    for (const m of qualifiedName(name))
      errors.push({ field: key(path, name), type: "Invalid", value: name, message: m });
    const q = parseQuantity(raw);
    if (q && isNegative(q))
      errors.push({
        field: key(path, name),
        type: "Invalid",
        value: raw,
        message: "must be greater than or equal to 0",
      });
  }
  return errors;
}

/** Quantities that do not parse are left to the schema check that reports their type. */
export function resourceRequirementsErrors(resources: unknown, path: string): FieldError[] {
  if (!isPlainObject(resources)) return [];
  const limits = objectAt(resources, "limits") ?? {};
  const requests = objectAt(resources, "requests") ?? {};
  const errors = [...listErrors(limits, child(path, "limits")), ...listErrors(requests, child(path, "requests"))];
  for (const [name, rawRequest] of Object.entries(requests)) {
    const rawLimit = getOwn(limits, name);
    const request = parseQuantity(rawRequest);
    const limit = parseQuantity(rawLimit);
    if (request && limit && compareQuantities(request, limit) > 0) {
      errors.push({
        field: key(child(path, "requests"), name),
        type: "Invalid",
        value: rawRequest,
        message: `must be less than or equal to ${name} limit of ${String(rawLimit)}`,
      });
    }
  }
  return errors;
}
