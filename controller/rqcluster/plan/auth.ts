// The pure half of rqlite's -auth (see ../auth.ts for the reading): the users file the
// operator's Secret must hold, the user's entries plus the operator's own, its digest (which rolls
// the Pods onto a new file), and what waits while the user's Secret cannot be used.
import { createHash } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import { OPERATOR_RQLITE_USER as OPERATOR_USER, operatorAuthSecretName } from "../../../shared/names.js";
import { describeJsonSyntaxError } from "../../runtime/jsonSyntax.js";
import { PASSWORD_KEY, type Credentials, type SecretProblem } from "../../access/clusterView.js";
import type { ClusterView } from "../render/cluster.js";
import type { Wait } from "./types.js";

export const USERS_KEY = "users.json";

/**
 * What one reconcile read for -auth (../auth.ts's readAuth): the user's users file or why it
 * cannot be read, the operator's live Secret, and a fresh password for when that keeps none.
 */
export interface AuthRead {
  /** Unset when spec.auth names no Secret (nodes may still run with -auth until they roll). */
  users?: { json: string } | { unusable: string };
  live?: { data: Record<string, string>; owned: boolean };
  freshPassword: string;
}

/** What the operator's auth Secret and the Pods follow. */
export interface AuthPlan {
  /** Digest of the users file the Pods should run with. */
  hash?: string;
  /** The operator's auth Secret as it should be, and whether the live one already matches. */
  secret?: { desired: V1Secret; current: boolean; exists: boolean };
  /** Holds every Pod change (an unusable Secret with no file to keep, a Secret owned by someone else). */
  hold?: Wait;
  /** For the SecretsReady condition. */
  problem?: SecretProblem;
}

interface RqliteUserEntry {
  username: string;
  [k: string]: unknown;
}

function isUserEntry(u: unknown): u is RqliteUserEntry {
  return typeof u === "object" && u !== null && typeof (u as RqliteUserEntry).username === "string";
}

/** The user's auth Secret cannot be used (missing, no users.json, not rqlite's format). */
export class AuthSecretError extends Error {}

/** The user's users.json with the operator's entry added; pure, for a stable result. */
export function mergeUsers(userJson: string, where: string, operator: Credentials): string {
  let users: unknown;
  try {
    users = JSON.parse(userJson);
  } catch {
    // JSON.parse's message quotes the text around the error, here passwords: say only where.
    throw new AuthSecretError(
      `${where} is ${describeJsonSyntaxError(userJson)}; it must be rqlite's -auth file, a JSON list of users`,
    );
  }
  if (!Array.isArray(users) || !(users as unknown[]).every(isUserEntry)) {
    throw new AuthSecretError(`${where} must be a JSON list of users, each with a "username"`);
  }
  const entries = users as RqliteUserEntry[];
  if (entries.some((u) => u.username === OPERATOR_USER)) {
    throw new AuthSecretError(
      `${where} defines the user "${OPERATOR_USER}", which the operator reserves for itself; rename that user`,
    );
  }
  // Kubernetes probes carry no credentials: anyone may ask /readyz, and nothing else is opened.
  const anonymous = entries.find((u) => u.username === "*");
  const perms = (u: RqliteUserEntry): unknown[] => (Array.isArray(u.perms) ? (u.perms as unknown[]) : []);
  const probeAccess = anonymous
    ? entries.map((u) => (u === anonymous ? { ...anonymous, perms: [...new Set([...perms(anonymous), "ready"])] } : u))
    : [...entries, { username: "*", perms: ["ready"] }];
  return JSON.stringify([...probeAccess, { username: OPERATOR_USER, password: operator.password, perms: ["all"] }]);
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** The operator's Secret with the merged users and its own password. */
export function renderAuthSecret(c: ClusterView, mergedUsers: string, password: string): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "Opaque",
    metadata: {
      name: operatorAuthSecretName(c.name),
      namespace: c.namespace,
      labels: c.labels,
      ownerReferences: [c.ownerReference],
    },
    data: { [USERS_KEY]: b64(mergedUsers), [PASSWORD_KEY]: b64(password) },
  };
}

const usersHash = (merged: string) => createHash("sha256").update(merged).digest("hex").slice(0, 16);

/** The digest of the users file the operator's live Secret holds: what the Pods run with now. */
export function keptAuthHash(existing: Record<string, string> | undefined): string | undefined {
  const users = existing?.[USERS_KEY];
  return users === undefined ? undefined : usersHash(users);
}

/** True when the live Secret already holds these users. */
function authSecretCurrent(existing: Record<string, string> | undefined, secret: V1Secret): boolean {
  return existing !== undefined && b64(existing[USERS_KEY] ?? "") === secret.data![USERS_KEY];
}

/**
 * The users file from what was read. A user's Secret that is gone or malformed leaves the Pods the
 * users file they run with, and the operator its own user, until it is fixed; everything else goes
 * on. A live Secret of the operator's name this cluster does not own is someone else's:
 * overwriting it would destroy it, and taking its password would let whoever wrote it choose the
 * operator's.
 */
export function planAuth(c: ClusterView, read: AuthRead | undefined): AuthPlan {
  const source = c.spec.auth?.secretName;
  if (!read?.users || !source) return {};
  let unusable = "unusable" in read.users ? read.users.unusable : undefined;
  if ("json" in read.users) {
    const name = operatorAuthSecretName(c.name);
    if (read.live && !read.live.owned) {
      const message = `Secret ${c.namespace}/${name} exists and is not owned by this RqCluster; the operator keeps its credentials there, so it leaves that Secret alone and waits: rename or delete it`;
      return { hold: { reason: "AdoptionConflict", message, warning: true } };
    }
    const existing = read.live?.data;
    const password = existing?.[PASSWORD_KEY] || read.freshPassword;
    const where = `Secret ${c.namespace}/${source} (spec.auth.secretName) key ${USERS_KEY}`;
    try {
      const merged = mergeUsers(read.users.json, where, { username: OPERATOR_USER, password });
      const desired = renderAuthSecret(c, merged, password);
      return {
        hash: usersHash(merged),
        secret: { desired, current: authSecretCurrent(existing, desired), exists: existing !== undefined },
      };
    } catch (err) {
      if (!(err instanceof AuthSecretError)) throw err;
      unusable = err.message;
    }
  }
  const kept = keptAuthHash(read.live?.data);
  return {
    problem: {
      reason: "AuthSecretUnusable",
      message: `${unusable}. Until then the operator keeps the users the nodes run with (no user change applies)`,
    },
    // A cluster that never had a users file has none to keep: its Pods wait for the Secret.
    ...(kept
      ? { hash: kept }
      : {
          hold: { reason: "AuthSecretUnusable", message: `${unusable}; no Pod is created until then`, warning: true },
        }),
  };
}
