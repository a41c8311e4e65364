// Admission validation of RqCluster objects: every rule docs/api.md lists, all errors at once, and no
// input (null, arrays, deep garbage) makes it throw.
import { child, formatFieldError, index, type FieldError, type ValidationResult } from "./field-errors.js";
import { envVarErrors } from "./env-rules.js";
import { parseImageReference, type ImageReference } from "./image.js";
import { getOwn, isPlainObject, objectAt, type JsonObject } from "./json-value.js";
import { dns1035Label, dns1123Subdomain, dotKeyErrors, qualifiedName } from "./k8s-names.js";
import { MAX_CLUSTER_NAME_LENGTH, MAX_REPLICAS, nameClash, operatorAuthSecretName } from "./names.js";
import { checkAgainstSchema } from "./openapi-validator.js";
import { ENV_VAR_SOURCE } from "./pod-openapi.js";
import { validatePodTemplate } from "./pod-template.js";
import { compareQuantities, parseQuantity } from "./quantity.js";
import { resourceRequirementsErrors } from "./resources.js";
import { flagTargetVersion, validateExtraArgs } from "./rqlited-flags.js";
import {
  bundlesNonOpenSourceExtension,
  formatVersion,
  isSupportedVersion,
  isTestedVersion,
  joinProblem,
  MIN_SUPPORTED_RQLITE,
  parseRqliteVersion,
  TESTED_RQLITE_VERSIONS,
  versionChangeProblem,
} from "./rqlite-versions.js";
import { DEFAULT_IMAGE, specSchema } from "./schema.js";
import { schemaErrors } from "./schema-validator.js";
import { backupS3PolicyErrors, backupSpecErrors, restoreUpdateErrors } from "./backup-validate.js";
import { STRICT_S3_POLICY, type S3Policy } from "./s3-endpoint.js";
import { serviceSpecErrors } from "./service.js";

export const MIN_STORAGE_SIZE = "64Mi";
/** Characters Kubernetes appends to a generateName prefix. */
const GENERATED_SUFFIX_LENGTH = 5;
const NAME_REQUIRED = "name or generateName is required";

type Check = (spec: JsonObject, result: ValidationResult) => void;

function nameErrors(name: string, field: string, maxLength: number): FieldError[] {
  if (name.length > maxLength) {
    return [
      {
        field,
        type: "TooLong",
        value: name,
        message: `may not be more than ${maxLength} characters, so that every derived name (e.g. <name>-ro-31, <name>-internal) stays a valid DNS label`,
      },
    ];
  }
  return dns1035Label(name).map((message) => ({ field, type: "Invalid", value: name, message }));
}

function metadataErrors(meta: unknown): FieldError[] {
  if (!isPlainObject(meta)) {
    return meta === undefined
      ? [{ field: "metadata.name", type: "Required", message: NAME_REQUIRED }]
      : [{ field: "metadata", type: "TypeInvalid", value: meta, message: "must be of type object" }];
  }
  const name = getOwn(meta, "name");
  const generateName = getOwn(meta, "generateName");
  if (typeof name === "string" && name !== "")
    return [...nameErrors(name, "metadata.name", MAX_CLUSTER_NAME_LENGTH), ...clashErrors(name)];
  if (name !== undefined && typeof name !== "string") {
    return [{ field: "metadata.name", type: "TypeInvalid", value: name, message: "must be of type string" }];
  }
  if (typeof generateName === "string" && generateName !== "") {
    // The prefix must leave room for the random suffix; its end need not be alphanumeric yet.
    return nameErrors(
      `${generateName}x`,
      "metadata.generateName",
      MAX_CLUSTER_NAME_LENGTH - GENERATED_SUFFIX_LENGTH + 1,
    ).map((e) => ({ ...e, value: generateName }));
  }
  return [{ field: "metadata.name", type: "Required", message: NAME_REQUIRED }];
}

/**
 * Names whose children would take another cluster's (`x-ro` and `x-internal` beside `x`). The
 * rule looks at the name alone, so it needs no API access and has no race between two creates;
 * see shared/README.md. A generated name ends in random characters and so never clashes.
 */
function clashErrors(name: string): FieldError[] {
  const clash = nameClash(name);
  if (!clash) return [];
  return [
    {
      field: "metadata.name",
      type: "Invalid",
      value: name,
      message: `may not end in "${clash.suffix}": this cluster's ${clash.ours} would be named like the ${clash.theirs} of an RqCluster "${clash.other}" in the same namespace; choose a name that does not end in "${clash.suffix}"`,
    },
  ];
}

/** The operator writes `<name>-operator-auth` itself, so it cannot also be the user's Secret it reads. */
function authSecretErrors(meta: JsonObject | undefined, spec: JsonObject): FieldError[] {
  const name = meta && getOwn(meta, "name");
  const secretName = getOwn(objectAt(spec, "auth") ?? {}, "secretName");
  if (typeof name !== "string" || secretName !== operatorAuthSecretName(name)) return [];
  return [
    {
      field: "spec.auth.secretName",
      type: "Invalid",
      value: secretName,
      message:
        "is the Secret the operator writes for this cluster (your users plus its own system user); name the Secret with your users.json differently",
    },
  ];
}

/** Adds `field: Invalid` (or Required when empty) for every reason `value` is no DNS-1123 subdomain. */
function subdomainErrors(value: unknown, field: string): FieldError[] {
  if (typeof value !== "string") return [];
  if (value === "") return [{ field, type: "Required", message: "" }];
  return dns1123Subdomain(value).map((message) => ({ field, type: "Invalid", value, message }));
}

const replicaCheck: Check = (spec, { warnings }) => {
  const n = getOwn(spec, "replicas");
  if (typeof n !== "number" || !Number.isInteger(n) || n % 2 !== 0 || n < 2 || n > MAX_REPLICAS) return;
  warnings.push(
    `spec.replicas: ${n} voters tolerate ${n / 2 - 1} failed node(s), the same as ${n - 1} voters; an odd number is recommended`,
  );
};

const imageCheck: Check = (spec, { errors, warnings }) => {
  const image = getOwn(spec, "image");
  if (typeof image !== "string") return;
  const ref = parseImageReference(image);
  if (!ref) {
    errors.push({
      field: "spec.image",
      type: "Invalid",
      value: image,
      message: `must be a valid image reference such as ${DEFAULT_IMAGE}`,
    });
  } else if (ref.tag === "latest") {
    warnings.push(
      `spec.image: tag "latest" floats to whatever was pushed last; pin a version such as ${DEFAULT_IMAGE} so upgrades are deliberate`,
    );
  } else if (ref.tag === undefined && ref.digest === undefined) {
    warnings.push(
      `spec.image: no tag means "latest", which floats to whatever was pushed last; pin a version such as ${DEFAULT_IMAGE}`,
    );
  } else {
    minimumVersionCheck(image, ref, { errors, warnings });
  }
};

/** rqlite before MIN_SUPPORTED_RQLITE lacks what the operator's rolling updates rely on. */
function minimumVersionCheck(image: string, ref: ImageReference, { errors }: ValidationResult): void {
  const version = parseRqliteVersion(ref.tag);
  if (!version || isSupportedVersion(version)) return;
  errors.push({
    field: "spec.image",
    type: "Invalid",
    value: image,
    message: `rqlite ${formatVersion(version)} is older than ${MIN_SUPPORTED_RQLITE}, the oldest the operator supports: before it, /readyz?sync does not exist and a rolling update could not wait for each node to catch up`,
  });
}

/**
 * What a user should know about the version they pick: said when the image is set (create, or
 * an update that changes it), not on every later edit of the cluster.
 */
function versionNotes(spec: JsonObject, { warnings }: ValidationResult): void {
  const image = getOwn(spec, "image");
  const ref = typeof image === "string" ? parseImageReference(image) : undefined;
  const version = parseRqliteVersion(ref?.tag);
  if (!ref || !version || !isSupportedVersion(version)) return;
  if (!isTestedVersion(version)) {
    warnings.push(
      `spec.image: rqlite ${formatVersion(version)} is not one of the versions this operator release was tested with (${TESTED_RQLITE_VERSIONS.join(", ")}); it is supported, but test it before relying on it`,
    );
  }
  const repository = ref.domain ? `${ref.domain}/${ref.path}` : ref.path;
  if (bundlesNonOpenSourceExtension(repository, version)) {
    warnings.push(
      `spec.image: rqlite's own images from 9.2.2 on bundle the sqliteai/sqlite-vector extension under the Elastic License 2.0, which is not an open-source licence; rqlite lists every bundled licence at GET /licenses`,
    );
  }
}

const storageCheck: Check = (spec, { errors }) => {
  const storage = objectAt(spec, "storage");
  if (!storage) return;
  const size = getOwn(storage, "size");
  const parsed = parseQuantity(size);
  if (parsed && compareQuantities(parsed, parseQuantity(MIN_STORAGE_SIZE)!) < 0) {
    errors.push({
      field: "spec.storage.size",
      type: "Invalid",
      value: size,
      message: `must be at least ${MIN_STORAGE_SIZE}`,
    });
  }
  const className = getOwn(storage, "storageClassName");
  // An empty class name is Kubernetes' way to ask for no dynamic provisioning, so it is allowed.
  if (className !== "") errors.push(...subdomainErrors(className, "spec.storage.storageClassName"));
};

const resourcesCheck: Check = (spec, { errors }) => {
  errors.push(...resourceRequirementsErrors(getOwn(spec, "resources"), "spec.resources"));
};

const affinityCheck: Check = (spec, { errors }) => {
  const key = getOwn(objectAt(spec, "affinity") ?? {}, "topologyKey");
  if (typeof key !== "string") return;
  if (key === "") errors.push({ field: "spec.affinity.topologyKey", type: "Required", message: "" });
  else
    for (const message of qualifiedName(key))
      errors.push({ field: "spec.affinity.topologyKey", type: "Invalid", value: key, message });
};

const podTemplateCheck: Check = (spec, { errors }) => {
  const template = getOwn(spec, "podTemplate");
  const ref = getOwn(spec, "podTemplateConfigMap");
  if (isPlainObject(template)) errors.push(...validatePodTemplate(template, "spec.podTemplate"));
  if (template !== undefined && template !== null && ref !== undefined && ref !== null) {
    errors.push({
      field: "spec.podTemplateConfigMap",
      type: "Forbidden",
      message: "may not be set together with spec.podTemplate",
    });
  }
  // The schema's pattern checks the name and the key's characters.
  if (isPlainObject(ref)) errors.push(...dotKeyErrors(getOwn(ref, "key"), "spec.podTemplateConfigMap.key"));
};

/** extraArgs are checked against the flags of the rqlite version the image runs. */
const extraArgsCheck: Check = (spec, { errors, warnings }) => {
  const args = getOwn(spec, "extraArgs");
  if (!Array.isArray(args)) return;
  const image = getOwn(spec, "image");
  const tag = typeof image === "string" ? parseImageReference(image)?.tag : undefined;
  const result = validateExtraArgs(args, "spec.extraArgs", flagTargetVersion(tag));
  errors.push(...result.errors);
  warnings.push(...result.warnings);
};

const envCheck: Check = (spec, { errors, warnings }) => {
  const env = getOwn(spec, "env");
  if (!Array.isArray(env)) return;
  const seen = new Set<string>();
  env.forEach((e, i) => {
    const at = index("spec.env", i);
    errors.push(...envVarErrors(e, at));
    if (!isPlainObject(e)) return;
    const valueFrom = getOwn(e, "valueFrom");
    if (isPlainObject(valueFrom))
      errors.push(...checkAgainstSchema(ENV_VAR_SOURCE, valueFrom, child(at, "valueFrom"), { requireFields: true }));
    const name = getOwn(e, "name");
    if (typeof name !== "string") return;
    if (seen.has(name))
      warnings.push(`${at}: environment variable ${JSON.stringify(name)} is set more than once; the last one wins`);
    seen.add(name);
  });
};

const disruptionCheck: Check = (spec, { warnings }) => {
  const maxUnavailable = getOwn(objectAt(spec, "podDisruptionBudget") ?? {}, "maxUnavailable");
  const replicas = getOwn(spec, "replicas");
  if (!Number.isInteger(maxUnavailable) || !Number.isInteger(replicas)) return;
  const tolerable = Math.floor(((replicas as number) - 1) / 2);
  if ((maxUnavailable as number) > tolerable) {
    warnings.push(
      `spec.podDisruptionBudget.maxUnavailable: evicting ${String(maxUnavailable)} of ${String(replicas)} voters at once loses quorum; at most ${tolerable} keep the cluster writable`,
    );
  }
};

const serviceCheck: Check = (spec, { errors }) => {
  errors.push(...serviceSpecErrors(getOwn(spec, "service"), "spec.service"));
  errors.push(...serviceSpecErrors(getOwn(spec, "readService"), "spec.readService"));
};

/** A recovery restarts Pods that hibernation keeps away: one of the two at a time. */
const recoveryCheck: Check = (spec, { errors }) => {
  if (getOwn(spec, "recovery") !== undefined && getOwn(spec, "hibernate") === true)
    errors.push({
      field: "spec.recovery",
      type: "Forbidden",
      message: "may not be set while spec.hibernate is true: wake the cluster first (spec.hibernate: false)",
    });
};

const SPEC_CHECKS: Check[] = [
  serviceCheck,
  replicaCheck,
  recoveryCheck,
  imageCheck,
  storageCheck,
  resourcesCheck,
  affinityCheck,
  podTemplateCheck,
  extraArgsCheck,
  envCheck,
  disruptionCheck,
  backupSpecErrors,
];

/**
 * Validates a new RqCluster (defaulted or not). `policy` is the administrator's S3 policy
 * (shared/s3-endpoint.ts); without one, only public endpoints and credentials Secrets pass.
 */
export function validateCreate(obj: unknown, policy: S3Policy = STRICT_S3_POLICY): ValidationResult {
  const result = validateObject(obj, policy);
  const spec = objectAt(obj, "spec");
  if (spec) versionNotes(spec, result);
  return result;
}

/** Every rule an RqCluster must meet on its own, whether created or updated. */
function validateObject(obj: unknown, policy: S3Policy): ValidationResult {
  const result: ValidationResult = { errors: [], warnings: [] };
  if (!isPlainObject(obj)) {
    result.errors.push({ field: "", type: "TypeInvalid", value: obj, message: "must be an RqCluster object" });
    return result;
  }
  result.errors.push(...metadataErrors(getOwn(obj, "metadata")));
  const spec = getOwn(obj, "spec");
  if (spec === undefined) {
    result.errors.push({ field: "spec", type: "Required", message: "" });
    return result;
  }
  result.errors.push(...schemaErrors(specSchema, spec, "spec"));
  if (!isPlainObject(spec)) return result;
  for (const check of SPEC_CHECKS) check(spec, result);
  const namespace = getOwn(objectAt(obj, "metadata") ?? {}, "namespace");
  backupS3PolicyErrors(spec, typeof namespace === "string" ? namespace : undefined, policy, result);
  result.errors.push(...authSecretErrors(objectAt(obj, "metadata"), spec));
  return result;
}

/** Turns each of result's errors that `inherited` already had into a warning. */
function ratchet(result: ValidationResult, inherited: readonly FieldError[]): void {
  const texts = new Set(inherited.map(formatFieldError));
  const errors: FieldError[] = [];
  for (const e of result.errors) {
    const text = formatFieldError(e);
    if (texts.has(text)) result.warnings.push(`${text} (unchanged from the stored object; fix it when you can)`);
    else errors.push(e);
  }
  result.errors = errors;
}

/** The stored object an update starts from. */
interface Stored {
  spec: JsonObject;
  status: JsonObject | undefined;
}

type UpdateCheck = (stored: Stored, newSpec: JsonObject, result: ValidationResult) => void;

/**
 * The images the Pods run, which the version rules compare against: status.images, every image
 * a Pod of the cluster runs, mid-roll too (from 8.x to 9.x, a 10.x would take the Pods still on
 * 8.x two majors up); else status.currentImage, which older controllers set while every voter
 * runs one image. Comparing against the previous spec instead would refuse the way back from a
 * failed upgrade (spec 9.x, Pods still on 8.x, spec set back to 8.x). Without either (a new
 * cluster) the stored spec.image stands in: the image the Pods run or are being rolled to.
 */
function runningImages(stored: Stored): Array<{ image: string; described: string }> {
  const listed = stored.status && getOwn(stored.status, "images");
  if (Array.isArray(listed)) {
    const images = listed.filter((i): i is string => typeof i === "string" && i !== "");
    if (images.length > 0)
      return images.map((image) => ({
        image,
        described: `a Pod runs ${JSON.stringify(image)} (status.images)`,
      }));
  }
  const current = stored.status && getOwn(stored.status, "currentImage");
  if (typeof current === "string" && current !== "")
    return [{ image: current, described: `the Pods run ${JSON.stringify(current)} (status.currentImage)` }];
  const image = getOwn(stored.spec, "image");
  if (typeof image !== "string") return [];
  return [
    {
      image,
      described: `the Pods run or are being rolled to ${JSON.stringify(image)} (spec.image before this update)`,
    },
  ];
}

/** Why `ref`'s tag tells no rqlite version. */
function unversionedReason(ref: ImageReference): string {
  if (ref.tag === "latest") return 'tag "latest" names whatever was pushed last';
  if (ref.tag !== undefined) return `tag ${JSON.stringify(ref.tag)} carries no rqlite version`;
  if (ref.digest !== undefined) return "a digest alone does not tell the rqlite version";
  return 'no tag means "latest", whatever was pushed last';
}

/**
 * rqlite's rules for changing the version of a running cluster (shared/rqlite-versions.ts):
 * downgrades only where rqlite supports them in place (9 to 8, not from 10), and at most one
 * major up. An image whose version cannot be told could be either, so it may not replace one
 * whose version is known: otherwise `rqlite/rqlite` or `:latest` would be a way around the
 * rules. Judged only when spec.image changes, so any other edit of a cluster mid-upgrade goes
 * through.
 */
const imageUpdateCheck: UpdateCheck = (stored, newSpec, { errors, warnings }) => {
  const after = getOwn(newSpec, "image");
  if (typeof after !== "string" || after === getOwn(stored.spec, "image")) return;
  const afterRef = parseImageReference(after);
  // An unparsable image is already reported.
  if (!afterRef) return;
  for (const running of runningImages(stored)) {
    const before = errors.length + warnings.length;
    judgeImageChange(running, after, afterRef, { errors, warnings });
    if (errors.length + warnings.length > before) return;
  }
};

/** One image a Pod runs against the new spec.image; going back to exactly what runs is always safe. */
function judgeImageChange(
  running: { image: string; described: string },
  after: string,
  afterRef: ImageReference,
  { errors, warnings }: Pick<ValidationResult, "errors" | "warnings">,
): void {
  if (after === running.image) return;
  const runningRef = parseImageReference(running.image);
  const from = parseRqliteVersion(runningRef?.tag);
  const to = parseRqliteVersion(afterRef.tag);
  if (from !== undefined && to === undefined) {
    const name = afterRef.domain ? `${afterRef.domain}/${afterRef.path}` : afterRef.path;
    errors.push({
      field: "spec.image",
      type: "Invalid",
      value: after,
      message: `must name an rqlite version: ${unversionedReason(afterRef)}, and ${running.described}, so this could downgrade rqlite or skip a major version; pin a version tag such as ${name}:${runningRef!.tag!}`,
    });
    return;
  }
  if (from === undefined || to === undefined) {
    warnings.push(
      `spec.image: cannot tell the rqlite version: ${running.described}; make sure ${JSON.stringify(after)} is no downgrade rqlite does not support and at most one major version up`,
    );
    return;
  }
  const problem = versionChangeProblem(from, to);
  if (problem) {
    errors.push({
      field: "spec.image",
      type: "Invalid",
      value: after,
      message: `may not change rqlite from ${formatVersion(from)} to ${formatVersion(to)}: ${running.described}; ${problem}`,
    });
  }
}

const nodeCount = (spec: JsonObject) =>
  ["replicas", "readReplicas"].reduce((n, key) => {
    const value = getOwn(spec, key);
    return n + (typeof value === "number" ? value : 0);
  }, 0);

/**
 * rqlite 10 nodes cannot join a cluster with members on 9.x or older, so nodes may not be added
 * while any Pod runs an older major than spec.image asks for (status.images, or
 * status.currentImage from older controllers); the controller holds new nodes back too, with a
 * Progressing condition.
 */
const scaleDuringUpgradeCheck: UpdateCheck = (stored, newSpec, { errors }) => {
  if (nodeCount(newSpec) <= nodeCount(stored.spec)) return;
  const image = getOwn(newSpec, "image");
  const hasStatusImage = stored.status && ["images", "currentImage"].some((k) => getOwn(stored.status!, k));
  if (!hasStatusImage || typeof image !== "string") return;
  const target = parseRqliteVersion(parseImageReference(image)?.tag);
  if (!target) return;
  for (const { image: current, described } of runningImages(stored)) {
    const runs = parseRqliteVersion(parseImageReference(current)?.tag);
    const problem = runs && joinProblem(target, [runs]);
    if (!problem) continue;
    const votersGrow = Number(getOwn(newSpec, "replicas")) > Number(getOwn(stored.spec, "replicas"));
    errors.push({
      field: votersGrow ? "spec.replicas" : "spec.readReplicas",
      type: "Forbidden",
      message: `may not add nodes until the upgrade to ${JSON.stringify(image)} has finished: ${described}, and ${problem}; scale once status.images shows only the new image`,
    });
    return;
  }
};

/**
 * Raft TLS cannot be rolled in or out: nodes with and without it cannot talk to each other, so
 * the first restarted node could not rejoin and the rest could not reach it. Changing which
 * Secret holds the certificate keeps TLS on and is a plain roll, as long as both Secrets' CAs
 * trust each other's certificates, which the webhook cannot see: hence a warning.
 */
const nodeTlsUpdateCheck: UpdateCheck = (stored, newSpec, { errors, warnings }) => {
  const secretName = (spec: JsonObject) => {
    const name = getOwn(objectAt(spec, "tls", "node") ?? {}, "secretName");
    return typeof name === "string" && name !== "" ? name : undefined;
  };
  const before = secretName(stored.spec);
  const after = secretName(newSpec);
  if (before !== undefined && after !== undefined && before !== after) {
    warnings.push(
      `spec.tls.node.secretName: the nodes are rolled one at a time from ${JSON.stringify(before)} to ${JSON.stringify(after)}; both must be issued by the same CA (or carry each other's in ca.crt), or the restarted nodes cannot reach the others`,
    );
  }
  if ((before === undefined) === (after === undefined)) return;
  const why =
    "rqlite nodes with and without node-to-node TLS cannot reach each other, so no rolling restart can make the change";
  errors.push(
    after !== undefined
      ? {
          field: "spec.tls.node.secretName",
          type: "Invalid",
          value: after,
          message: `may not be set on an existing cluster: ${why}; create a new RqCluster with spec.tls.node.secretName and restore a backup into it`,
        }
      : {
          field: "spec.tls.node.secretName",
          type: "Forbidden",
          message: `may not be removed from an existing cluster (it was ${JSON.stringify(before)}): ${why}; create a new RqCluster without it and restore a backup into it`,
        },
  );
};

const storageUpdateCheck: UpdateCheck = ({ spec: oldSpec }, newSpec, { errors, warnings }) => {
  const before = objectAt(oldSpec, "storage") ?? {};
  const after = objectAt(newSpec, "storage") ?? {};
  const oldClass = getOwn(before, "storageClassName");
  const newClass = getOwn(after, "storageClassName");
  if (oldClass !== newClass) {
    errors.push({
      field: "spec.storage.storageClassName",
      type: "Invalid",
      value: newClass ?? null,
      message: "field is immutable",
    });
  }
  const oldSize = getOwn(before, "size");
  const newSize = getOwn(after, "size");
  const from = parseQuantity(oldSize);
  const to = parseQuantity(newSize);
  if (!from || !to) return;
  const order = compareQuantities(to, from);
  if (order < 0) {
    errors.push({
      field: "spec.storage.size",
      type: "Invalid",
      value: newSize,
      message: `may not be less than the current ${String(oldSize)}: volumes can grow but never shrink`,
    });
  } else if (order > 0) {
    warnings.push(
      `spec.storage.size: growing from ${String(oldSize)} to ${String(newSize)} needs a StorageClass with allowVolumeExpansion`,
    );
  }
};

/**
 * spec.recovery.confirm must be the cluster's own uid: typing it is how a person accepts the data
 * a recovery may lose, and a manifest copied from another cluster of the same name never matches.
 * Only a changed request is judged, so a finished one left in the spec blocks no other edit.
 */
function recoveryConfirmCheck(metadata: JsonObject | undefined, newSpec: JsonObject, { errors }: ValidationResult) {
  const ask = objectAt(newSpec, "recovery");
  const confirm = ask && getOwn(ask, "confirm");
  const uid = metadata && getOwn(metadata, "uid");
  if (typeof confirm !== "string" || typeof uid !== "string" || confirm === uid) return;
  errors.push({
    field: "spec.recovery.confirm",
    type: "Invalid",
    value: confirm,
    message: `must be this RqCluster's metadata.uid (${uid}): setting it accepts that the data only lost voters held is lost (see kubectl rqlite recover)`,
  });
}

/** Hibernating stops the database: said as the change is made, not found out by a failing client. */
const hibernateUpdateCheck: UpdateCheck = ({ spec: oldSpec }, newSpec, { warnings }) => {
  if (getOwn(newSpec, "hibernate") !== true || getOwn(oldSpec, "hibernate") === true) return;
  warnings.push(
    "spec.hibernate: every Pod of this cluster will be deleted; it serves no reads or writes until spec.hibernate is false again (the PVCs and their data stay)",
  );
};

const UPDATE_CHECKS: UpdateCheck[] = [
  hibernateUpdateCheck,
  imageUpdateCheck,
  scaleDuringUpgradeCheck,
  storageUpdateCheck,
  nodeTlsUpdateCheck,
  ({ spec: oldSpec }, newSpec, { errors }) => errors.push(...restoreUpdateErrors(oldSpec, newSpec)),
];

/**
 * Validates an update: the new object as on create, plus the transition rules. An error the
 * stored object already had is reported as a warning instead (ratcheting, as Kubernetes does
 * for CRD schemas), so a rule tightened by a newer operator never blocks unrelated changes.
 */
export function validateUpdate(
  oldObj: unknown,
  newObj: unknown,
  policy: S3Policy = STRICT_S3_POLICY,
): ValidationResult {
  const result = validateObject(newObj, policy);
  // The stored object's errors only decide which of the new object's errors to ratchet, so an
  // update without any (nearly every one) skips validating the stored object, half the work.
  if (result.errors.length > 0) ratchet(result, validateObject(oldObj, policy).errors);
  const oldSpec = objectAt(oldObj, "spec");
  const newSpec = objectAt(newObj, "spec");
  if (newSpec && getOwn(newSpec, "image") !== (oldSpec && getOwn(oldSpec, "image"))) versionNotes(newSpec, result);
  const stored: Stored | undefined = oldSpec && { spec: oldSpec, status: objectAt(oldObj, "status") };
  if (stored && newSpec) for (const check of UPDATE_CHECKS) check(stored, newSpec, result);
  if (newSpec && JSON.stringify(getOwn(newSpec, "recovery")) !== JSON.stringify(oldSpec && getOwn(oldSpec, "recovery")))
    recoveryConfirmCheck(objectAt(oldObj, "metadata"), newSpec, result);
  return result;
}
