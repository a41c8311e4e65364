// The restricted Pod Security Standard, enforced by the real API server's PodSecurity admission:
// the operator's own Pods (from both Deployments' templates) and the rqlite Pods the controller
// renders are admitted in a namespace labelled enforce=restricted, and a Pod that breaks the
// standard is refused there, so the check is known to be on.
import { strict as assert } from "node:assert";
import { clusterView } from "../../controller/rqcluster/render/cluster.js";
import { renderPod } from "../../controller/rqcluster/render/pod.js";
import { kustomize } from "../../hack/kustomize.js";
import type { RqCluster } from "../../shared/index.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";
import { createPodDryRun, podOfDeployment, RESTRICTED } from "./support/podSecurity.js";

describe("install: restricted Pod Security Standard", function () {
  this.timeout(120_000);
  let ns: string;
  before(async () => {
    ns = await createTestNamespace(await sharedControlPlane(), "pss", RESTRICTED);
  });

  const createDryRun = async (pod: object) => createPodDryRun(await sharedControlPlane(), ns, pod);

  it("refuses a Pod that breaks the standard (the check is on)", async () => {
    const r = await createDryRun({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "plain" },
      spec: { containers: [{ name: "c", image: "busybox" }] },
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /violates PodSecurity "restricted:latest"/);
  });

  for (const name of ["rqlite-operator-controller", "rqlite-operator-webhook"]) {
    it(`admits the Pods of Deployment ${name}`, async () => {
      const deployment = (await kustomize("deploy/default")).find(
        (o) => o.kind === "Deployment" && o.metadata.name === name,
      )!;
      const r = await createDryRun(podOfDeployment(deployment));
      assert.equal(r.code, 0, r.stderr);
    });
  }

  it("admits the rqlite Pods the controller renders, voters and read replicas", async () => {
    const cluster: RqCluster = {
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: "pss", namespace: ns, uid: "00000000-0000-4000-8000-000000000001", generation: 1 },
      spec: { replicas: 3, readReplicas: 1 },
    };
    const view = clusterView(cluster);
    for (const member of [
      { name: "pss-0", ordinal: 0, role: "voter" as const },
      { name: "pss-ro-0", ordinal: 0, role: "read-only" as const },
    ]) {
      const pod = renderPod(view, {
        member,
        bootstrapExpect: 3,
        addressing: { kind: "dns", clusterDomain: "cluster.local" },
      });
      const r = await createDryRun(pod);
      assert.equal(r.code, 0, `${member.name}: ${r.stderr}`);
    }
  });
});
