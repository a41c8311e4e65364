// The admission webhooks: what each admits and how it decides. They are pure functions of
// the AdmissionRequest, so tests and the benchmark can drive them without a server.
import { isDeepStrictEqual } from "node:util";
import fastJsonPatch from "fast-json-patch";
import {
  API_VERSION,
  BACKUP_KIND,
  GROUP,
  KIND,
  POD_TEMPLATE_LABEL,
  VERSION,
  applyDefaults,
  formatErrors,
  formatFieldError,
  getOwn,
  isPlainObject,
  objectAt,
  validateBackup,
  validateScheduledBackup,
  SCHEDULED_BACKUP_KIND,
  validateCreate,
  validatePodTemplateConfigMap,
  validateUpdate,
  STRICT_S3_POLICY,
  type FieldError,
  type S3Policy,
} from "../shared/index.js";
import {
  allowedResponse,
  badRequest,
  deniedResponse,
  describeValue,
  failureStatus,
  type AdmissionRequest,
  type AdmissionResponse,
  type GroupVersionKind,
  type Status,
} from "./admissionReview.js";

// fast-json-patch is CommonJS: its named exports are only reachable through the default import.
const { compare } = fastJsonPatch;

export interface Webhook {
  /** URL path; also the `webhook` label of the metrics, as controller-runtime labels them. */
  path: string;
  /** The only kind the webhook configuration may send here. */
  kind: GroupVersionKind;
  /** Qualified kind as the apiserver prints it in errors, e.g. `RqCluster.rqlite.io`. */
  qualifiedKind: string;
  /** `policy`: the administrator's S3 rules (webhook/config.ts). */
  review(request: AdmissionRequest, policy: S3Policy): AdmissionResponse;
}

const RQCLUSTER: GroupVersionKind = { group: GROUP, version: VERSION, kind: KIND };
const CONFIGMAP: GroupVersionKind = { group: "", version: "v1", kind: "ConfigMap" };
const RQBACKUP: GroupVersionKind = { group: GROUP, version: VERSION, kind: BACKUP_KIND };
const RQSCHEDULEDBACKUP: GroupVersionKind = { group: GROUP, version: VERSION, kind: SCHEDULED_BACKUP_KIND };

/** metav1.CauseType for each field error type (k8s.io/apimachinery's field.ErrorType). */
const CAUSE_REASONS: Record<FieldError["type"], string> = {
  Invalid: "FieldValueInvalid",
  TypeInvalid: "FieldValueTypeInvalid",
  Required: "FieldValueRequired",
  Unsupported: "FieldValueNotSupported",
  Forbidden: "FieldValueForbidden",
  TooLong: "FieldValueTooLong",
  Duplicate: "FieldValueDuplicate",
};

/** The 422 Invalid status the apiserver itself returns for a bad object, with one cause per error. */
export function invalidStatus(
  kind: GroupVersionKind,
  qualifiedKind: string,
  name: string,
  errors: FieldError[],
): Status {
  return {
    ...failureStatus(422, "Invalid", formatErrors(qualifiedKind, name, errors)),
    details: {
      name,
      group: kind.group,
      kind: kind.kind,
      causes: errors.map((e) => ({
        reason: CAUSE_REASONS[e.type],
        message: formatFieldError({ ...e, field: "" }),
        field: e.field,
      })),
    },
  };
}

/** The name the apiserver would print: generateName-only objects have none yet. */
function objectName(request: AdmissionRequest): string {
  if (request.name) return request.name;
  const meta = objectAt(request.object, "metadata");
  const name = meta && (getOwn(meta, "name") || getOwn(meta, "generateName"));
  return typeof name === "string" ? name : "";
}

function decide(
  webhook: Pick<Webhook, "kind" | "qualifiedKind">,
  request: AdmissionRequest,
  errors: FieldError[],
  warnings: string[],
): AdmissionResponse {
  if (errors.length === 0) return allowedResponse(request.uid, [], warnings);
  return deniedResponse(
    request.uid,
    invalidStatus(webhook.kind, webhook.qualifiedKind, objectName(request), errors),
    warnings,
  );
}

const isPodTemplate = (obj: unknown) => {
  const labels = objectAt(obj, "metadata", "labels");
  return labels !== undefined && getOwn(labels, POD_TEMPLATE_LABEL) !== undefined;
};

const writes = (request: AdmissionRequest) => request.operation === "CREATE" || request.operation === "UPDATE";

/**
 * A webhook of one of the operator's kinds: it judges CREATE and UPDATE only, and only objects
 * whose spec (if any) is an object. A spec of another type cannot be defaulted or validated field
 * by field: that request is malformed rather than invalid (the CRD schema makes the apiserver
 * refuse it first).
 */
function specWebhook(
  kind: GroupVersionKind,
  path: string,
  judge: (request: AdmissionRequest, policy: S3Policy) => AdmissionResponse,
): Webhook {
  return {
    path,
    kind,
    qualifiedKind: `${kind.kind}.${kind.group}`,
    review(request, policy) {
      if (!writes(request)) return allowedResponse(request.uid, [], []);
      const spec = getOwn(request.object as Record<string, unknown>, "spec");
      if (spec !== undefined && !isPlainObject(spec)) {
        return deniedResponse(request.uid, badRequest(`object.spec must be an object, got ${describeValue(spec)}`), []);
      }
      return judge(request, policy);
    },
  };
}

export const mutateRqCluster = specWebhook(RQCLUSTER, "/mutate-rqlite-io-v1alpha1-rqcluster", (request) => {
  const object = request.object as object;
  return allowedResponse(request.uid, compare(object, applyDefaults(object)), []);
});

export const validateRqCluster = specWebhook(RQCLUSTER, "/validate-rqlite-io-v1alpha1-rqcluster", (request, policy) => {
  const { errors, warnings } =
    request.operation === "CREATE"
      ? validateCreate(request.object, policy)
      : validateUpdate(request.oldObject, request.object, policy);
  return decide(validateRqCluster, request, errors, warnings);
});

/** The same shared/ rules the controller checks again before it acts on an RqBackup. */
export const validateRqBackup = specWebhook(RQBACKUP, "/validate-rqlite-io-v1alpha1-rqbackup", (request, policy) => {
  const { errors, warnings } = validateBackup(request.object, policy);
  return decide(validateRqBackup, request, errors, warnings);
});

/** The same shared/ rules the controller checks again before a schedule creates an RqBackup. */
export const validateRqScheduledBackup = specWebhook(
  RQSCHEDULEDBACKUP,
  "/validate-rqlite-io-v1alpha1-rqscheduledbackup",
  (request, policy) => {
    const { errors, warnings } = validateScheduledBackup(request.object, policy);
    return decide(validateRqScheduledBackup, request, errors, warnings);
  },
);

export const validatePodTemplateConfigMapWebhook: Webhook = {
  path: "/validate-v1-configmap-pod-template",
  kind: CONFIGMAP,
  qualifiedKind: "ConfigMap",
  review(request) {
    if (!writes(request)) return allowedResponse(request.uid, [], []);
    // The configuration's objectSelector should send only labelled ConfigMaps; an unlabelled one
    // is not a pod template and not ours to judge. But an update that drops the label and
    // changes the content in one step would slip an unchecked template past this webhook.
    if (!isPodTemplate(request.object)) {
      const slipped =
        request.operation === "UPDATE" &&
        isPodTemplate(request.oldObject) &&
        ["data", "binaryData"].some(
          (k) => !isDeepStrictEqual(objectAt(request.object, k), objectAt(request.oldObject, k)),
        );
      const errors: FieldError[] = slipped
        ? [
            {
              field: `metadata.labels[${POD_TEMPLATE_LABEL}]`,
              type: "Forbidden",
              message:
                "may not be removed in the same update that changes data or binaryData; remove the label first, then change the content",
            },
          ]
        : [];
      return decide(this, request, errors, []);
    }
    return decide(this, request, validatePodTemplateConfigMap(request.object), []);
  },
};

export const WEBHOOKS: readonly Webhook[] = [
  mutateRqCluster,
  validateRqCluster,
  validateRqBackup,
  validateRqScheduledBackup,
  validatePodTemplateConfigMapWebhook,
];

const formatGvk = (k: GroupVersionKind) => `${k.group ? `${k.group}/` : ""}${k.version} ${k.kind}`;

/**
 * Answers one request: checks it was meant for this webhook, then lets the webhook decide.
 * Subresource requests (status, scale) carry other kinds and are the controller's or the
 * CRD schema's business, so they pass. A throwing rule becomes a 500 answer, never a crash.
 */
export function admit(webhook: Webhook, request: AdmissionRequest, policy: S3Policy): AdmissionResponse {
  if (request.subResource) return allowedResponse(request.uid, [], []);
  const k = request.kind;
  if (k.group !== webhook.kind.group || k.version !== webhook.kind.version || k.kind !== webhook.kind.kind) {
    return deniedResponse(
      request.uid,
      badRequest(
        `${webhook.path} admits ${formatGvk(webhook.kind)}, got ${formatGvk(k)}; check the rules of the webhook configuration`,
      ),
      [],
    );
  }
  try {
    return webhook.review(request, policy);
  } catch (err) {
    // JSON nested deeper than the recursive rules can walk (the apiserver stops at 10000 levels).
    if (err instanceof RangeError && /call stack/.test(err.message)) {
      return deniedResponse(request.uid, badRequest("object is nested too deeply to check"), []);
    }
    const message = `internal error in ${webhook.path}: ${(err as Error).message}`;
    return deniedResponse(request.uid, failureStatus(500, "InternalError", message), []);
  }
}

/**
 * Runs every webhook once on a small request, so schema compilation happens at start-up and
 * not inside the first real request's timeout.
 */
export function warmUp(): void {
  const template = JSON.stringify({ spec: { containers: [{ name: "sidecar", image: "busybox:1.36" }] } });
  const objects: [Webhook, unknown][] = [
    [mutateRqCluster, { apiVersion: API_VERSION, kind: KIND, metadata: { name: "warm-up" }, spec: {} }],
    [
      validateRqCluster,
      applyDefaults({
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: "warm-up" },
        spec: { podTemplate: JSON.parse(template) as unknown },
      }),
    ],
    [
      validateRqBackup,
      {
        apiVersion: API_VERSION,
        kind: BACKUP_KIND,
        metadata: { name: "warm-up" },
        spec: { cluster: "warm-up", destination: { s3: { bucket: "warm-up", credentialsSecret: { name: "s3" } } } },
      },
    ],
    [
      validatePodTemplateConfigMapWebhook,
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "warm-up", labels: { [POD_TEMPLATE_LABEL]: "" } },
        data: { "pod-template.json": template },
      },
    ],
  ];
  for (const [webhook, object] of objects) {
    admit(webhook, { uid: "warm-up", kind: webhook.kind, operation: "CREATE", object }, STRICT_S3_POLICY);
  }
}
