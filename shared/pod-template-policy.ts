// What a pod template may ask of the Pods the operator creates. The operator's ServiceAccount
// creates those Pods, not the tenant who wrote the template, so a field the tenant could not set
// on a Pod of their own must not reach one through the operator (a confused deputy): policy
// exemptions keyed on the operator's identity would apply, and audit logs would name it.
//
// Hence an allow-list, not a deny-list: a field Kubernetes adds later is refused until someone
// decides it is safe. Security settings may only tighten what the operator generates (the
// "restricted" Pod Security Standard), and apply to every container: added sidecars and init
// containers start from the same hardened settings (see render/pod.ts).
import { child, index, type FieldError } from "./field-errors.js";
import { getOwn, isPlainObject, type JsonObject } from "./json-value.js";
import { schemaProperties } from "./openapi-validator.js";
import { POD_SPEC } from "./pod-openapi.js";

const NOT_ALLOWED = "is not on the pod template allow-list";
const TIGHTEN_ONLY = "may only tighten the operator's restricted security settings";

/** Pod spec fields a template may set, beyond those the operator owns (reported elsewhere). */
const POD_SPEC_ALLOWED = new Set([
  "containers",
  "initContainers",
  "volumes",
  "affinity",
  "nodeSelector",
  "tolerations",
  "topologySpreadConstraints",
  "priorityClassName",
  "securityContext",
  "imagePullSecrets",
  "terminationGracePeriodSeconds",
  "dnsPolicy",
  "dnsConfig",
  "hostAliases",
  "readinessGates",
  "enableServiceLinks",
  "resources",
  "hostUsers",
]);

/** Why the fields users most often reach for are refused, so the message says what to do. */
const POD_SPEC_REASONS: Record<string, string> = {
  serviceAccountName:
    "rqlite Pods run as the namespace's default ServiceAccount with no API token; a template may not choose the identity Pods the operator creates run as",
  serviceAccount: "is the deprecated serviceAccountName, which a template may not set",
  automountServiceAccountToken: "is set by the operator (false): rqlite needs no Kubernetes API access",
  hostNetwork: "host namespaces are not allowed: the operator creates the Pod, so your own Pod policy would not apply",
  hostPID: "host namespaces are not allowed: the operator creates the Pod, so your own Pod policy would not apply",
  hostIPC: "host namespaces are not allowed: the operator creates the Pod, so your own Pod policy would not apply",
  nodeName: "bypasses the scheduler and the anti-affinity; use nodeSelector or affinity",
  runtimeClassName: "could pick a less isolated runtime",
  priority: "comes from priorityClassName",
  preemptionPolicy: "comes from priorityClassName",
  shareProcessNamespace: "would let added containers see rqlited's process and its credentials",
};

const CONTAINER_ALLOWED = new Set([
  "name",
  "image",
  "imagePullPolicy",
  "command",
  "args",
  "workingDir",
  "env",
  "envFrom",
  "resources",
  "resizePolicy",
  "ports",
  "volumeMounts",
  "livenessProbe",
  "readinessProbe",
  "startupProbe",
  "lifecycle",
  "securityContext",
  "restartPolicy",
  "terminationMessagePath",
  "terminationMessagePolicy",
  "stdin",
  "stdinOnce",
  "tty",
]);

/** Volume sources with no reach beyond the namespace (and no API token: see projected). */
const SAFE_VOLUME_SOURCES = new Set([
  "configMap",
  "secret",
  "emptyDir",
  "projected",
  "persistentVolumeClaim",
  "downwardAPI",
  "ephemeral",
]);

const forbidden = (field: string, message: string): FieldError => ({ field, type: "Forbidden", message });

/** A value that must be exactly `ok`: anything else, null included (it removes the operator's), loosens. */
function onlyValue(obj: JsonObject, k: string, ok: unknown, path: string): FieldError[] {
  const v = getOwn(obj, k);
  if (v === undefined || v === ok) return [];
  return [forbidden(child(path, k), `${TIGHTEN_ONLY}: only ${JSON.stringify(ok)} is allowed`)];
}

/** User and group ids: any but root (0); null would remove the operator's non-root ids. */
function nonRootId(obj: JsonObject, k: string, path: string): FieldError[] {
  const v = getOwn(obj, k);
  if (v === undefined || (typeof v === "number" && v !== 0)) return [];
  return [forbidden(child(path, k), `${TIGHTEN_ONLY}: must be a non-root id (not 0)`)];
}

function profileErrors(obj: JsonObject, k: string, path: string): FieldError[] {
  const v = getOwn(obj, k);
  if (v === undefined) return [];
  const type = isPlainObject(v) ? getOwn(v, "type") : undefined;
  if (type === "RuntimeDefault" || type === "Localhost") return [];
  return [forbidden(child(path, k), `${TIGHTEN_ONLY}: type must be RuntimeDefault or Localhost`)];
}

/** Fields of `type` the Pod schema knows; the schema check reports the others as unknown. */
const known = (type: string): ReadonlySet<string> => new Set(schemaProperties(type));
const POD_SPEC_FIELDS = known(POD_SPEC);
const CONTAINER_FIELDS = known("io.k8s.api.core.v1.Container");
const POD_SECURITY_FIELDS = known("io.k8s.api.core.v1.PodSecurityContext");
const CONTAINER_SECURITY_FIELDS = known("io.k8s.api.core.v1.SecurityContext");

function offList(
  obj: JsonObject,
  fields: { known: ReadonlySet<string>; allowed: ReadonlySet<string> },
  path: string,
  what: string,
): FieldError[] {
  return Object.keys(obj)
    .filter((k) => fields.known.has(k) && !fields.allowed.has(k))
    .map((k) => forbidden(child(path, k), `${what} ${NOT_ALLOWED}`));
}

const POD_SECURITY_ALLOWED = new Set([
  "runAsNonRoot",
  "runAsUser",
  "runAsGroup",
  "fsGroup",
  "fsGroupChangePolicy",
  "supplementalGroups",
  "supplementalGroupsPolicy",
  "seccompProfile",
  "appArmorProfile",
  "seLinuxChangePolicy",
]);

function podSecurityContextErrors(sc: unknown, path: string): FieldError[] {
  if (sc === null) return [forbidden(path, `${TIGHTEN_ONLY}: would remove them`)];
  if (!isPlainObject(sc)) return [];
  const groups = getOwn(sc, "supplementalGroups");
  return [
    ...offList(sc, { known: POD_SECURITY_FIELDS, allowed: POD_SECURITY_ALLOWED }, path, "this security setting"),
    ...onlyValue(sc, "runAsNonRoot", true, path),
    ...nonRootId(sc, "runAsUser", path),
    ...nonRootId(sc, "runAsGroup", path),
    ...nonRootId(sc, "fsGroup", path),
    ...(Array.isArray(groups) && groups.includes(0)
      ? [forbidden(child(path, "supplementalGroups"), `${TIGHTEN_ONLY}: may not add group 0`)]
      : []),
    ...profileErrors(sc, "seccompProfile", path),
    ...profileErrors(sc, "appArmorProfile", path),
  ];
}

const CONTAINER_SECURITY_ALLOWED = new Set([
  "privileged",
  "allowPrivilegeEscalation",
  "readOnlyRootFilesystem",
  "runAsNonRoot",
  "runAsUser",
  "runAsGroup",
  "capabilities",
  "seccompProfile",
  "appArmorProfile",
  "procMount",
]);

function capabilityErrors(caps: unknown, path: string): FieldError[] {
  if (caps === undefined) return [];
  if (!isPlainObject(caps)) return [forbidden(path, `${TIGHTEN_ONLY}: would remove "drop: [ALL]"`)];
  const errors: FieldError[] = [];
  const add = getOwn(caps, "add");
  // The restricted standard's one exception: binding ports under 1024 without root.
  if (Array.isArray(add) && add.some((c) => c !== "NET_BIND_SERVICE"))
    errors.push(forbidden(child(path, "add"), `${TIGHTEN_ONLY}: only NET_BIND_SERVICE may be added`));
  const drop = getOwn(caps, "drop");
  // A list replaces the generated one whole, so it must still drop everything.
  if (drop !== undefined && !(Array.isArray(drop) && drop.includes("ALL")))
    errors.push(forbidden(child(path, "drop"), `${TIGHTEN_ONLY}: must include ALL`));
  return errors;
}

function containerSecurityContextErrors(sc: unknown, path: string): FieldError[] {
  if (sc === null) return [forbidden(path, `${TIGHTEN_ONLY}: would remove them`)];
  if (!isPlainObject(sc)) return [];
  return [
    ...offList(
      sc,
      { known: CONTAINER_SECURITY_FIELDS, allowed: CONTAINER_SECURITY_ALLOWED },
      path,
      "this security setting",
    ),
    ...onlyValue(sc, "privileged", false, path),
    ...onlyValue(sc, "allowPrivilegeEscalation", false, path),
    ...onlyValue(sc, "readOnlyRootFilesystem", true, path),
    ...onlyValue(sc, "runAsNonRoot", true, path),
    ...onlyValue(sc, "procMount", "Default", path),
    ...nonRootId(sc, "runAsUser", path),
    ...nonRootId(sc, "runAsGroup", path),
    ...capabilityErrors(getOwn(sc, "capabilities"), child(path, "capabilities")),
    ...profileErrors(sc, "seccompProfile", path),
    ...profileErrors(sc, "appArmorProfile", path),
  ];
}

function containerErrors(c: JsonObject, path: string): FieldError[] {
  const errors = offList(c, { known: CONTAINER_FIELDS, allowed: CONTAINER_ALLOWED }, path, "this container field");
  const ports = getOwn(c, "ports");
  if (Array.isArray(ports)) {
    ports.forEach((p, i) => {
      for (const k of ["hostPort", "hostIP"])
        if (isPlainObject(p) && getOwn(p, k) !== undefined)
          errors.push(forbidden(child(index(child(path, "ports"), i), k), "host ports are not allowed"));
    });
  }
  const mounts = getOwn(c, "volumeMounts");
  if (Array.isArray(mounts)) {
    mounts.forEach((m, i) => {
      if (isPlainObject(m) && getOwn(m, "mountPropagation") === "Bidirectional")
        errors.push(
          forbidden(
            child(index(child(path, "volumeMounts"), i), "mountPropagation"),
            "Bidirectional propagation needs a privileged container",
          ),
        );
    });
  }
  errors.push(...containerSecurityContextErrors(getOwn(c, "securityContext"), child(path, "securityContext")));
  return errors;
}

function volumeErrors(v: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = [];
  for (const k of Object.keys(v)) {
    if (k === "name" || getOwn(v, k) === null || SAFE_VOLUME_SOURCES.has(k)) continue;
    const why = k === "hostPath" ? "would expose the node's files" : `only ${[...SAFE_VOLUME_SOURCES].join(", ")}`;
    errors.push(forbidden(child(path, k), `this volume type ${NOT_ALLOWED}: ${why}`));
  }
  const projected = getOwn(v, "projected");
  const sources = isPlainObject(projected) ? getOwn(projected, "sources") : undefined;
  if (Array.isArray(sources)) {
    sources.forEach((s, i) => {
      if (isPlainObject(s) && getOwn(s, "serviceAccountToken") !== undefined)
        errors.push(
          forbidden(
            child(index(child(child(path, "projected"), "sources"), i), "serviceAccountToken"),
            "rqlite Pods carry no Kubernetes API token",
          ),
        );
    });
  }
  return errors;
}

/**
 * Every reason the pod spec of a template asks for more than a tenant may: fields off the
 * allow-list, loosened security settings, host access, unsafe volume types. `owned` names the
 * fields the operator sets, which the caller reports itself.
 */
export function podSpecPolicyErrors(spec: JsonObject, path: string, owned: ReadonlySet<string>): FieldError[] {
  const errors: FieldError[] = [];
  for (const k of Object.keys(spec)) {
    if (owned.has(k) || POD_SPEC_ALLOWED.has(k) || !POD_SPEC_FIELDS.has(k)) continue;
    errors.push(forbidden(child(path, k), POD_SPEC_REASONS[k] ?? `this Pod field ${NOT_ALLOWED}`));
  }
  errors.push(...(getOwn(spec, "hostUsers") === true ? [forbidden(child(path, "hostUsers"), TIGHTEN_ONLY)] : []));
  errors.push(...podSecurityContextErrors(getOwn(spec, "securityContext"), child(path, "securityContext")));
  for (const list of ["containers", "initContainers"]) {
    const items = getOwn(spec, list);
    if (!Array.isArray(items)) continue;
    items.forEach((c, i) => {
      if (isPlainObject(c)) errors.push(...containerErrors(c, index(child(path, list), i)));
    });
  }
  const volumes = getOwn(spec, "volumes");
  if (Array.isArray(volumes)) {
    volumes.forEach((v, i) => {
      if (isPlainObject(v)) errors.push(...volumeErrors(v, index(child(path, "volumes"), i)));
    });
  }
  return errors;
}
