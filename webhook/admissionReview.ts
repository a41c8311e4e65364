// The admission.k8s.io/v1 AdmissionReview wire format: reading a request defensively (any JSON
// may arrive) and writing the response kube-apiserver expects.
import type { Operation } from "fast-json-patch";
import { isPlainObject } from "../shared/index.js";

export const ADMISSION_API_VERSION = "admission.k8s.io/v1";
export const ADMISSION_KIND = "AdmissionReview";

export type AdmissionOperation = "CREATE" | "UPDATE" | "DELETE" | "CONNECT";
const OPERATIONS: ReadonlySet<string> = new Set<AdmissionOperation>(["CREATE", "UPDATE", "DELETE", "CONNECT"]);

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: AdmissionOperation;
  /** The new object on CREATE and UPDATE; absent (or null) on DELETE. */
  object?: unknown;
  /** The stored object on UPDATE and DELETE. */
  oldObject?: unknown;
  dryRun?: boolean;
}

/** metav1.StatusCause, one per field error, so clients can map errors to fields. */
export interface StatusCause {
  reason: string;
  message: string;
  field: string;
}

/** The metav1.Status kube-apiserver returns to the client when a request is denied. */
export interface Status {
  metadata: Record<string, never>;
  status: "Failure";
  code: number;
  reason: string;
  message: string;
  details?: { name: string; group: string; kind: string; causes: StatusCause[] };
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: Status;
  patchType?: "JSONPatch";
  /** base64 of the JSON Patch text. */
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: typeof ADMISSION_KIND;
  response: AdmissionResponse;
}

export type ParsedReview =
  | { ok: true; request: AdmissionRequest }
  /** `uid` is set when the request carried one, so the answer can still be an AdmissionReview. */
  | { ok: false; uid?: string; message: string };

/** "null", "an array", "a string", ... for messages about a value of the wrong type. */
export function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return `a ${typeof v}`;
}

function gvkProblem(kind: unknown): string | undefined {
  if (!isPlainObject(kind))
    return `request.kind must be an object with group, version and kind, got ${describeValue(kind)}`;
  for (const f of ["group", "version", "kind"] as const) {
    if (typeof kind[f] !== "string") return `request.kind.${f} must be a string, got ${describeValue(kind[f])}`;
  }
  return undefined;
}

/** Everything wrong with `request` that makes it unanswerable on its merits. */
function requestProblem(req: Record<string, unknown>): string | undefined {
  const op = req.operation;
  if (typeof op !== "string" || !OPERATIONS.has(op)) {
    return `request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got ${JSON.stringify(op) ?? "nothing"}`;
  }
  const kindProblem = gvkProblem(req.kind);
  if (kindProblem) return kindProblem;
  for (const f of ["name", "namespace", "subResource"] as const) {
    if (req[f] !== undefined && typeof req[f] !== "string")
      return `request.${f} must be a string, got ${describeValue(req[f])}`;
  }
  if ((op === "CREATE" || op === "UPDATE") && !isPlainObject(req.object)) {
    return `request.object must be an object on ${op}, got ${describeValue(req.object)}`;
  }
  if (op === "UPDATE" && !isPlainObject(req.oldObject)) {
    return `request.oldObject must be an object on UPDATE, got ${describeValue(req.oldObject)}`;
  }
  return undefined;
}

/** Reads a decoded request body as an AdmissionReview; never throws. */
export function parseAdmissionReview(body: unknown): ParsedReview {
  if (body === undefined) return { ok: false, message: "request body is empty; expected an AdmissionReview" };
  if (!isPlainObject(body))
    return { ok: false, message: `request body must be an AdmissionReview object, got ${describeValue(body)}` };
  const req = body.request;
  const uid = isPlainObject(req) && typeof req.uid === "string" && req.uid !== "" ? req.uid : undefined;
  const fail = (message: string): ParsedReview => ({ ok: false, uid, message });
  if (body.kind !== ADMISSION_KIND || body.apiVersion !== ADMISSION_API_VERSION) {
    return fail(
      `expected apiVersion ${ADMISSION_API_VERSION} kind ${ADMISSION_KIND}, got apiVersion ${JSON.stringify(body.apiVersion) ?? "nothing"} kind ${JSON.stringify(body.kind) ?? "nothing"}; list only v1 in the webhook configuration's admissionReviewVersions`,
    );
  }
  if (!isPlainObject(req)) return fail(`request must be an object, got ${describeValue(req)}`);
  if (uid === undefined) return fail("request.uid must be a non-empty string");
  const problem = requestProblem(req);
  if (problem) return fail(problem);
  return { ok: true, request: req as unknown as AdmissionRequest };
}

export function review(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_KIND, response };
}

export function allowedResponse(uid: string, patch: Operation[], warnings: string[]): AdmissionResponse {
  const response: AdmissionResponse = { uid, allowed: true };
  if (patch.length > 0) {
    response.patchType = "JSONPatch";
    response.patch = Buffer.from(JSON.stringify(patch)).toString("base64");
  }
  if (warnings.length > 0) response.warnings = warnings;
  return response;
}

export function deniedResponse(uid: string, status: Status, warnings: string[]): AdmissionResponse {
  const response: AdmissionResponse = { uid, allowed: false, status };
  if (warnings.length > 0) response.warnings = warnings;
  return response;
}

export function failureStatus(code: number, reason: string, message: string): Status {
  return { metadata: {}, status: "Failure", code, reason, message };
}

export const badRequest = (message: string) => failureStatus(400, "BadRequest", message);

/** A bare metav1.Status document, for HTTP errors that cannot be answered as an AdmissionReview. */
export function statusDocument(status: Status): Status & { apiVersion: "v1"; kind: "Status" } {
  return { apiVersion: "v1", kind: "Status", ...status };
}
