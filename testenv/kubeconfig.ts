import { readFileSync } from "node:fs";
import { stringify } from "yaml";

export type Credentials = { clientCert: string; clientKey: string } | { token: string };

/** A single-context kubeconfig with everything inline, so it stays valid if files move. */
export function renderKubeconfig(server: string, caCertFile: string, user: string, creds: Credentials): string {
  const b64 = (file: string) => readFileSync(file).toString("base64");
  const userEntry =
    "token" in creds
      ? { token: creds.token }
      : { "client-certificate-data": b64(creds.clientCert), "client-key-data": b64(creds.clientKey) };
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "testenv", cluster: { server, "certificate-authority-data": b64(caCertFile) } }],
    users: [{ name: user, user: userEntry }],
    contexts: [{ name: user, context: { cluster: "testenv", user } }],
    "current-context": user,
  });
}
