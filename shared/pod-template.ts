// Rules for pod templates (spec.podTemplate and ConfigMaps labelled rqlite.io/pod-template).
//
// A template is an RFC 7396 merge patch onto the Pod the operator generates, except that lists
// carrying a Kubernetes patch merge key (containers, volumes, env, volumeMounts, ...) merge by
// that key as a strategic merge patch does: otherwise a template could not touch the rqlite
// container without replacing it. That decides what "required" means here:
// - objects outside lists merge into the generated Pod, which may already hold their required
//   fields (the pod spec's containers, a probe's handler), so they are not required;
// - every list item is new and must be complete, except a spec.containers entry named rqlite,
//   which merges into the generated container (and nested list items within it are new again);
// - null removes a field, so it is accepted wherever removing is harmless and rejected where it
//   would remove what the operator owns.
import { child, index, key, type FieldError } from "./field-errors.js";
import { getOwn, isPlainObject, type JsonObject } from "./json-value.js";
import { dns1123Label, qualifiedName, labelValue } from "./k8s-names.js";
import { DATA_VOLUME, GROUP, isOperatorOwnedAnnotation, isOperatorOwnedLabel, RQLITE_CONTAINER } from "./names.js";
import { checkAgainstSchema, schemaProperties } from "./openapi-validator.js";
import { OBJECT_META, POD_SPEC, VOLUME } from "./pod-openapi.js";
import { envVarErrors } from "./env-rules.js";
import { resourceRequirementsErrors } from "./resources.js";
import { podSpecPolicyErrors } from "./pod-template-policy.js";

const SET_BY_OPERATOR = "set by the operator";
const OWNED_METADATA = ["name", "namespace", "ownerReferences"];
const TEMPLATE_METADATA = ["labels", "annotations"];
const OWNED_POD_SPEC = ["hostname", "subdomain", "restartPolicy"];
const OWNED_RQLITE_CONTAINER = ["image", "command", "args", "ports"];
const CONTAINER_LISTS = ["containers", "initContainers"];
/** Pod spec fields refused here with their own message, which the allow-list leaves alone. */
const REPORTED_POD_SPEC: ReadonlySet<string> = new Set([...OWNED_POD_SPEC, "ephemeralContainers"]);

function forbidden(field: string, message: string): FieldError {
  return { field, type: "Forbidden", message };
}

const METADATA_FIELDS = schemaProperties(OBJECT_META);

function metadataErrors(meta: unknown, path: string): FieldError[] {
  const errors = checkAgainstSchema(OBJECT_META, meta, path, { requireFields: false });
  if (!isPlainObject(meta)) return errors;
  for (const k of Object.keys(meta)) {
    if (OWNED_METADATA.includes(k)) errors.push(forbidden(child(path, k), SET_BY_OPERATOR));
    else if (METADATA_FIELDS.includes(k) && !TEMPLATE_METADATA.includes(k)) {
      errors.push(forbidden(child(path, k), "a pod template may set only labels and annotations"));
    }
  }
  const labels = getOwn(meta, "labels");
  const labelsPath = child(path, "labels");
  for (const [k, v] of isPlainObject(labels) ? Object.entries(labels) : []) {
    for (const m of qualifiedName(k)) errors.push({ field: labelsPath, type: "Invalid", value: k, message: m });
    if (typeof v === "string")
      for (const m of labelValue(v)) errors.push({ field: key(labelsPath, k), type: "Invalid", value: v, message: m });
    if (isOperatorOwnedLabel(k))
      errors.push(forbidden(key(labelsPath, k), `${SET_BY_OPERATOR}: its selectors depend on this label`));
  }
  const annotations = getOwn(meta, "annotations");
  const annotationsPath = child(path, "annotations");
  for (const k of isPlainObject(annotations) ? Object.keys(annotations) : []) {
    for (const m of qualifiedName(k)) errors.push({ field: annotationsPath, type: "Invalid", value: k, message: m });
    // The operator records on each Pod what it decided (bootstrap-expect, spec and auth hashes);
    // a template writing those would change what it believes the Pod runs.
    if (isOperatorOwnedAnnotation(k))
      errors.push(forbidden(key(annotationsPath, k), `${SET_BY_OPERATOR}: annotations under ${GROUP}/ are its own`));
  }
  return errors;
}

function containerErrors(container: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = [];
  const name = getOwn(container, "name");
  if (typeof name === "string" && name !== "") {
    for (const m of dns1123Label(name))
      errors.push({ field: child(path, "name"), type: "Invalid", value: name, message: m });
  }
  const env = getOwn(container, "env");
  if (Array.isArray(env)) env.forEach((e, i) => errors.push(...envVarErrors(e, index(child(path, "env"), i))));
  errors.push(...resourceRequirementsErrors(getOwn(container, "resources"), child(path, "resources")));
  return errors;
}

/** What the operator owns in the rqlite container: its process, ports and the data mount. */
function rqliteContainerErrors(container: JsonObject, path: string): FieldError[] {
  const errors = OWNED_RQLITE_CONTAINER.filter((f) => Object.hasOwn(container, f)).map((f) =>
    forbidden(child(path, f), SET_BY_OPERATOR),
  );
  const mounts = getOwn(container, "volumeMounts");
  const mountsPath = child(path, "volumeMounts");
  if (mounts === null)
    errors.push(forbidden(mountsPath, `would remove the ${DATA_VOLUME} volume mount, which is ${SET_BY_OPERATOR}`));
  if (Array.isArray(mounts)) {
    mounts.forEach((m, i) => {
      if (isPlainObject(m) && getOwn(m, "name") === DATA_VOLUME)
        errors.push(forbidden(index(mountsPath, i), `the ${DATA_VOLUME} volume mount is ${SET_BY_OPERATOR}`));
    });
  }
  return errors;
}

function containerListErrors(spec: JsonObject, list: string, path: string): FieldError[] {
  const containers = getOwn(spec, list);
  const listPath = child(path, list);
  if (containers === null && list === "containers")
    return [forbidden(listPath, `would remove the ${RQLITE_CONTAINER} container`)];
  if (!Array.isArray(containers)) return [];
  return containers.flatMap((c, i) => {
    if (!isPlainObject(c)) return [];
    const at = index(listPath, i);
    const own = list === "containers" && getOwn(c, "name") === RQLITE_CONTAINER ? rqliteContainerErrors(c, at) : [];
    return [...own, ...containerErrors(c, at)];
  });
}

const VOLUME_SOURCES = schemaProperties(VOLUME).filter((p) => p !== "name");

function volumeErrors(spec: JsonObject, path: string): FieldError[] {
  const volumes = getOwn(spec, "volumes");
  const listPath = child(path, "volumes");
  if (volumes === null)
    return [forbidden(listPath, `would remove the ${DATA_VOLUME} volume, which is ${SET_BY_OPERATOR}`)];
  if (!Array.isArray(volumes)) return [];
  return volumes.flatMap((v, i): FieldError[] => {
    if (!isPlainObject(v)) return [];
    const at = index(listPath, i);
    if (getOwn(v, "name") === DATA_VOLUME)
      return [forbidden(at, `the ${DATA_VOLUME} volume is the node's PersistentVolumeClaim, ${SET_BY_OPERATOR}`)];
    const set = VOLUME_SOURCES.filter((s) => getOwn(v, s) !== undefined && getOwn(v, s) !== null);
    if (set.length === 0) return [{ field: at, type: "Required", message: "must specify a volume type" }];
    if (set.length > 1) return [forbidden(child(at, set[1]!), "may not specify more than 1 volume type")];
    return [];
  });
}

function specErrors(spec: unknown, path: string): FieldError[] {
  if (spec === null) return [forbidden(path, "would remove the Pod spec the operator generates")];
  const errors = checkAgainstSchema(POD_SPEC, spec, path, {
    requireFields: false,
    isExistingItem: (listPath, item) =>
      listPath === child(path, "containers") && isPlainObject(item) && getOwn(item, "name") === RQLITE_CONTAINER,
  });
  if (!isPlainObject(spec)) return errors;
  for (const f of OWNED_POD_SPEC) if (Object.hasOwn(spec, f)) errors.push(forbidden(child(path, f), SET_BY_OPERATOR));
  if (Object.hasOwn(spec, "ephemeralContainers")) {
    errors.push(
      forbidden(
        child(path, "ephemeralContainers"),
        "ephemeral containers are added to running Pods through their ephemeralcontainers subresource",
      ),
    );
  }
  for (const list of CONTAINER_LISTS) errors.push(...containerListErrors(spec, list, path));
  errors.push(...volumeErrors(spec, path));
  errors.push(...podSpecPolicyErrors(spec, path, REPORTED_POD_SPEC));
  return errors;
}

/** Every reason `template` may not be applied to a node's Pod, pathed below `basePath`. */
export function validatePodTemplate(template: unknown, basePath: string): FieldError[] {
  if (!isPlainObject(template)) {
    return [
      { field: basePath, type: "TypeInvalid", value: template, message: "must be an object with metadata and spec" },
    ];
  }
  const errors: FieldError[] = [];
  for (const k of Object.keys(template)) {
    if (k !== "metadata" && k !== "spec")
      errors.push(forbidden(child(basePath, k), `unknown field "${k}": a pod template holds only metadata and spec`));
  }
  const meta = getOwn(template, "metadata");
  if (meta !== undefined) errors.push(...metadataErrors(meta, child(basePath, "metadata")));
  const spec = getOwn(template, "spec");
  if (spec !== undefined) errors.push(...specErrors(spec, child(basePath, "spec")));
  return errors;
}

/**
 * Validates a ConfigMap labelled rqlite.io/pod-template: each entry of `data` is a JSON pod
 * template (an RqCluster picks one by spec.podTemplateConfigMap.key).
 */
export function validatePodTemplateConfigMap(cm: unknown): FieldError[] {
  if (!isPlainObject(cm)) return [{ field: "", type: "TypeInvalid", value: cm, message: "must be a ConfigMap object" }];
  const errors: FieldError[] = [];
  const binary = getOwn(cm, "binaryData");
  for (const k of isPlainObject(binary) ? Object.keys(binary) : []) {
    errors.push(forbidden(key("binaryData", k), "pod templates are read from data as JSON text"));
  }
  const data = getOwn(cm, "data");
  if (data === undefined || data === null || (isPlainObject(data) && Object.keys(data).length === 0)) {
    return [
      ...errors,
      {
        field: "data",
        type: "Required",
        message: "a pod-template ConfigMap holds at least one JSON template, e.g. under pod-template.json",
      },
    ];
  }
  if (!isPlainObject(data))
    return [...errors, { field: "data", type: "TypeInvalid", value: data, message: "must be of type object" }];
  for (const [k, text] of Object.entries(data)) {
    const at = key("data", k);
    if (typeof text !== "string") {
      errors.push({ field: at, type: "TypeInvalid", value: text, message: "must be of type string" });
      continue;
    }
    let template: unknown;
    try {
      template = JSON.parse(text);
    } catch (err) {
      errors.push({ field: at, type: "Invalid", message: `must be a JSON pod template: ${(err as Error).message}` });
      continue;
    }
    errors.push(...validatePodTemplate(template, at));
  }
  return errors;
}
