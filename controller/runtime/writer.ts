// The reconciler's writes. Children are written with server-side apply: the field manager owns
// what it sets, and nothing else (a user's own labels and annotations stay, and managedFields
// shows who set what). Merge patches where apply cannot say it: the status, finalizers, and keys
// to remove that another manager owns. Custom resources take no strategic merge patch.
import { KubeApiError, type KubeClient } from "./kubeClient.js";
import type { KubernetesObject } from "@kubernetes/client-node";
import { resourcePath } from "./paths.js";

export type Json = Record<string, unknown>;

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
}

export interface TypeMeta {
  apiVersion: string;
  kind: string;
}

export interface Writer {
  create(obj: KubernetesObject): Promise<void>;
  /** RFC 7396 merge patch. */
  patch(ref: ObjectRef, patch: Json): Promise<void>;
  /**
   * Server-side apply of `obj` (apiVersion, kind, name, namespace and every field this manager
   * owns), forced: a field someone else changed by hand comes back to this manager's value.
   * Creates the object when it does not exist.
   */
  apply(obj: KubernetesObject): Promise<void>;
  /** gracePeriodSeconds 0 force-deletes a Pod whose kubelet can no longer confirm anything. */
  delete(ref: ObjectRef, opts?: { gracePeriodSeconds?: number }): Promise<void>;
  /**
   * Evicts a Pod (policy/v1 Eviction): the API server admits it only if every
   * PodDisruptionBudget over the Pod allows it, and answers 429 otherwise (rethrown, its
   * KubeApiError the cause). A Pod already gone is no error.
   */
  evict(ref: ObjectRef): Promise<void>;
  patchStatus(ref: ObjectRef, status: Json): Promise<void>;
  /**
   * A Secret `owner` names: its data (decoded) and labels, or undefined when it does not exist.
   * Read in the owner's namespace, the one the API server stored it in, and nowhere else.
   */
  readSecret(owner: KubernetesObject, name: string): Promise<DataObject | undefined>;
  /** A ConfigMap `owner` names, in the owner's namespace: its data and labels, or undefined. */
  readConfigMap(owner: KubernetesObject, name: string): Promise<DataObject | undefined>;
}

/**
 * The namespace of the object that names a Secret or ConfigMap. The reader takes the object, not
 * a namespace, so no name a user writes can choose where the operator reads.
 */
export function ownerNamespace(owner: KubernetesObject): string {
  const namespace = owner.metadata?.namespace;
  if (!namespace) throw new Error(`${owner.kind ?? "object"} ${owner.metadata?.name ?? ""} has no namespace`);
  return namespace;
}

/** What a ConfigMap or Secret holds, with the labels that say what it is for and who owns it. */
export interface DataObject {
  data: Record<string, string>;
  labels: Record<string, string>;
  /** uids of its owner references. */
  owners: string[];
}

/** Listed objects come without apiVersion and kind, so the caller names the type. */
export function refOf(type: TypeMeta, obj: KubernetesObject): ObjectRef {
  return { ...type, metadata: { name: obj.metadata!.name!, namespace: obj.metadata!.namespace! } };
}

const MERGE_PATCH = "application/merge-patch+json";
// JSON is YAML: the API server takes an apply configuration in JSON under this type.
const APPLY_PATCH = "application/apply-patch+yaml";
const WRITE_TIMEOUT_MS = 30_000;

function isApiStatus(err: unknown, code: number): boolean {
  return err instanceof KubeApiError && err.status === code;
}

/** Says which object the failed call was about; KubeApiError already has method, path and reason. */
function about(action: string, ref: ObjectRef, err: unknown): Error {
  const e = new Error(
    `${action} ${ref.kind} ${ref.metadata.namespace}/${ref.metadata.name}: ${(err as Error).message}`,
    { cause: err },
  );
  return e;
}

/** Writes as `fieldManager`, which names the controller in managedFields. */
export function makeWriter(client: KubeClient, fieldManager: string): Writer {
  const pathOf = (ref: ObjectRef, sub?: string) =>
    resourcePath(ref.apiVersion, ref.kind, ref.metadata.namespace, ref.metadata.name, sub);
  const query = { fieldManager };
  const attempt = async (action: string, ref: ObjectRef, call: () => Promise<unknown>) => {
    try {
      await call();
    } catch (err) {
      throw about(action, ref, err);
    }
  };

  return {
    create: (obj) => {
      const ref = obj as ObjectRef;
      return attempt("create", ref, () =>
        client.request({
          method: "POST",
          path: resourcePath(ref.apiVersion, ref.kind, ref.metadata.namespace),
          query,
          body: obj,
          timeoutMs: WRITE_TIMEOUT_MS,
        }),
      );
    },
    patch: (ref, patch) =>
      attempt("patch", ref, () =>
        client.request({
          method: "PATCH",
          path: pathOf(ref),
          query,
          body: patch,
          contentType: MERGE_PATCH,
          timeoutMs: WRITE_TIMEOUT_MS,
        }),
      ),
    apply: (obj) => {
      const ref = obj as ObjectRef;
      return attempt("apply", ref, () =>
        client.request({
          method: "PATCH",
          path: pathOf(ref),
          query: { ...query, force: true },
          body: obj,
          contentType: APPLY_PATCH,
          timeoutMs: WRITE_TIMEOUT_MS,
        }),
      );
    },
    delete: (ref, opts = {}) =>
      attempt("delete", ref, async () => {
        const body =
          opts.gracePeriodSeconds === undefined
            ? undefined
            : { apiVersion: "v1", kind: "DeleteOptions", gracePeriodSeconds: opts.gracePeriodSeconds };
        try {
          await client.request({ method: "DELETE", path: pathOf(ref), body, timeoutMs: WRITE_TIMEOUT_MS });
        } catch (err) {
          if (!isApiStatus(err, 404)) throw err;
        }
      }),
    evict: (ref) =>
      attempt("evict", ref, async () => {
        const body = {
          apiVersion: "policy/v1",
          kind: "Eviction",
          metadata: { name: ref.metadata.name, namespace: ref.metadata.namespace },
        };
        try {
          await client.request({ method: "POST", path: pathOf(ref, "eviction"), body, timeoutMs: WRITE_TIMEOUT_MS });
        } catch (err) {
          if (!isApiStatus(err, 404)) throw err;
        }
      }),
    patchStatus: (ref, status) =>
      attempt("patch status of", ref, () =>
        client.request({
          method: "PATCH",
          path: pathOf(ref, "status"),
          query,
          body: status,
          contentType: MERGE_PATCH,
          timeoutMs: WRITE_TIMEOUT_MS,
        }),
      ),
    readConfigMap: (owner, name) => readData(client, "ConfigMap", ownerNamespace(owner), name),
    readSecret: async (owner, name) => {
      const secret = await readData(client, "Secret", ownerNamespace(owner), name);
      if (!secret) return undefined;
      const decoded = Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]);
      return { ...secret, data: Object.fromEntries(decoded) as Record<string, string> };
    },
  };
}

async function readData(
  client: KubeClient,
  kind: "ConfigMap" | "Secret",
  namespace: string,
  name: string,
): Promise<DataObject | undefined> {
  const ref = { apiVersion: "v1", kind, metadata: { namespace, name } };
  try {
    const obj = await client.request<{
      data?: Record<string, string>;
      metadata?: { labels?: Record<string, string>; ownerReferences?: { uid: string }[] };
    }>({
      method: "GET",
      path: resourcePath("v1", kind, namespace, name),
      timeoutMs: WRITE_TIMEOUT_MS,
    });
    return {
      data: obj.data ?? {},
      labels: obj.metadata?.labels ?? {},
      owners: (obj.metadata?.ownerReferences ?? []).map((r) => r.uid),
    };
  } catch (err) {
    if (isApiStatus(err, 404)) return undefined;
    throw about("read", ref, err);
  }
}
