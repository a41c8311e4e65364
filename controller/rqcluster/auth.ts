// rqlite's -auth: the user's Secret lists the application's users; the operator needs a user
// of its own to read membership, remove nodes and move leadership. It keeps both in one Secret
// it owns, `<cluster>-operator-auth`, which the Pods mount: `users.json` (the user's entries plus
// the operator's) and `operator-password`, generated once and kept.
import { createHash, randomBytes } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import { OPERATOR_RQLITE_USER as OPERATOR_USER, operatorAuthSecretName } from "../../shared/names.js";
import type { ClusterView } from "./render/cluster.js";
import { describeJsonSyntaxError } from "../runtime/jsonSyntax.js";
import type { Writer } from "../runtime/writer.js";

const USERS_KEY = "users.json";
export const PASSWORD_KEY = "operator-password";

export interface Credentials {
  username: string;
  password: string;
}

export interface AuthState {
  credentials: Credentials;
  /** Changes when users.json changes, so Pods restart onto the new file. */
  hash: string;
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

/**
 * Reads the user's Secret and the operator's; returns what the operator's Secret must hold and
 * the credentials, or undefined when the cluster runs without -auth. Errors name the Secret and
 * what to fix.
 */
export async function planAuth(
  writer: Writer,
  c: ClusterView,
): Promise<
  { secret: V1Secret; existing?: Record<string, string>; state: AuthState } | { conflict: string } | undefined
> {
  const source = c.spec.auth?.secretName;
  if (!source) return undefined;
  const userSecret = await writer.readSecret(c.self, source);
  const where = `Secret ${c.namespace}/${source} (spec.auth.secretName)`;
  if (!userSecret)
    throw new AuthSecretError(`${where} does not exist; create it with a ${USERS_KEY} key in rqlite's -auth format`);
  const userJson = userSecret.data[USERS_KEY];
  if (userJson === undefined)
    throw new AuthSecretError(`${where} has no key ${USERS_KEY}; add rqlite's -auth file under that key`);
  const name = operatorAuthSecretName(c.name);
  const live = await writer.readSecret(c.self, name);
  // A Secret of that name this cluster does not own is someone else's: overwriting it would
  // destroy it, and taking its password would let whoever wrote it choose the operator's.
  if (live && !live.owners.includes(c.uid)) {
    return {
      conflict: `Secret ${c.namespace}/${name} exists and is not owned by this RqCluster; the operator keeps its credentials there, so it leaves that Secret alone and waits: rename or delete it`,
    };
  }
  const existing = live?.data;
  const password = existing?.[PASSWORD_KEY] || randomBytes(24).toString("base64url");
  const credentials = { username: OPERATOR_USER, password };
  const merged = mergeUsers(userJson, `${where} key ${USERS_KEY}`, credentials);
  return {
    secret: renderAuthSecret(c, merged, password),
    existing,
    state: { credentials, hash: usersHash(merged) },
  };
}

const usersHash = (merged: string) => createHash("sha256").update(merged).digest("hex").slice(0, 16);

/** The digest of the users file the operator's live Secret holds: what the Pods run with now. */
export function keptAuthHash(existing: Record<string, string> | undefined): string | undefined {
  const users = existing?.[USERS_KEY];
  return users === undefined ? undefined : usersHash(users);
}

/** True when the live Secret already holds these users. */
export function authSecretCurrent(existing: Record<string, string> | undefined, secret: V1Secret): boolean {
  return existing !== undefined && b64(existing[USERS_KEY] ?? "") === secret.data![USERS_KEY];
}

/** The operator's credentials kept in its live Secret, for nodes that still run with -auth. */
export function keptCredentials(existing: Record<string, string> | undefined): Credentials | undefined {
  const password = existing?.[PASSWORD_KEY];
  return password ? { username: OPERATOR_USER, password } : undefined;
}
