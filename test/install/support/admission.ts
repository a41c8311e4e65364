// What a user sees of the admission webhook through the API server: a bad RqCluster refused by
// `kubectl apply` with the validating webhook's field-pathed message, a good one defaulted by
// the mutating webhook.
import { strict as assert } from "node:assert";
import { stringify } from "yaml";
import type { ControlPlane } from "../../../testenv/controlplane.js";

/** How kubectl shows the validating webhook's denial of an operator-owned flag. */
export const OWNED_FLAG_DENIED = /is invalid: spec\.extraArgs\[0\]: Forbidden: flag -node-id is set by the operator/;

export function rqClusterYaml(namespace: string, name: string, spec: object): string {
  return stringify({ apiVersion: "rqlite.io/v1alpha1", kind: "RqCluster", metadata: { name, namespace }, spec });
}

/** A spec the CRD's schema accepts and only the validating webhook knows to refuse. */
export function ownedFlagCluster(namespace: string, name: string): string {
  return rqClusterYaml(namespace, name, { replicas: 3, extraArgs: ["-node-id=evil"] });
}

/** Asserts that both webhooks answer for RqClusters in `namespace`, as kubectl shows it. */
export async function assertRqClusterAdmission(cp: ControlPlane, namespace: string): Promise<void> {
  const bad = await cp.kubectl(["apply", "-f", "-"], { input: ownedFlagCluster(namespace, "bad") });
  assert.notEqual(bad.code, 0, bad.stdout);
  assert.match(bad.stderr, OWNED_FLAG_DENIED);
  const good = await cp.kubectlOk(["apply", "--dry-run=server", "-o", "json", "-f", "-"], {
    input: rqClusterYaml(namespace, "good", { replicas: 3 }),
  });
  assert.equal(
    (JSON.parse(good) as { spec: { storage?: { reclaimPolicy?: string } } }).spec.storage?.reclaimPolicy,
    "Retain",
    "the mutating webhook filled the defaults",
  );
}
