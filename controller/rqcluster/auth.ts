// rqlite's -auth: the user's Secret lists the application's users; the operator needs a user
// of its own to read membership, remove nodes and move leadership. It keeps both in one Secret
// it owns, `<cluster>-operator-auth`, which the Pods mount: `users.json` (the user's entries plus
// the operator's) and `operator-password`, generated once and kept. This file reads; what the
// Secret must hold is decided in ./plan/auth.ts. The credentials nodes are asked with come from
// here while the operator may still write its Secret; ../access/cluster.ts reads the kept ones
// for every controller.
import { randomBytes } from "node:crypto";
import type { V1Pod } from "@kubernetes/client-node";
import { OPERATOR_RQLITE_USER, operatorAuthSecretName } from "../../shared/names.js";
import type { Writer } from "../runtime/writer.js";
import { keptCredentials, runsWithAuth } from "../access/cluster.js";
import type { Credentials } from "../access/clusterView.js";
import { USERS_KEY, type AuthRead } from "./plan/auth.js";
import type { ClusterView } from "./render/cluster.js";

/**
 * Reads the user's Secret (spec.auth.secretName) and the operator's, or nothing when neither
 * spec.auth nor a running Pod uses -auth. What is wrong with the user's Secret is said with its
 * name and what to fix.
 */
export async function readAuth(writer: Writer, c: ClusterView, pods: V1Pod[]): Promise<AuthRead | undefined> {
  const source = c.spec.auth?.secretName;
  if (!source && !pods.some(runsWithAuth)) return undefined;
  let users: AuthRead["users"];
  if (source) {
    const secret = await writer.readSecret(c.self, source);
    const where = `Secret ${c.namespace}/${source} (spec.auth.secretName)`;
    const json = secret?.data[USERS_KEY];
    users = !secret
      ? { unusable: `${where} does not exist; create it with a ${USERS_KEY} key in rqlite's -auth format` }
      : json === undefined
        ? { unusable: `${where} has no key ${USERS_KEY}; add rqlite's -auth file under that key` }
        : { json };
  }
  const live = await writer.readSecret(c.self, operatorAuthSecretName(c.name));
  return {
    ...(users ? { users } : {}),
    ...(live ? { live: { data: live.data, owned: live.owners.includes(c.uid) } } : {}),
    freshPassword: randomBytes(24).toString("base64url"),
  };
}

/**
 * The credentials the operator asks nodes with: the password its live Secret keeps, or, before
 * there is one, the one it is about to write. None from a Secret someone else owns while the
 * user's users file is usable (the operator will not take that Secret's password).
 */
export function operatorCredentials(read: AuthRead | undefined): Credentials | undefined {
  if (!read) return undefined;
  const usable = read.users !== undefined && "json" in read.users;
  if (usable && read.live && !read.live.owned) return undefined;
  return (
    keptCredentials(read.live?.data) ??
    (usable ? { username: OPERATOR_RQLITE_USER, password: read.freshPassword } : undefined)
  );
}
