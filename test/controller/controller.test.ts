// The controller end to end on the real control plane: the real entry point, two replicas,
// running as its ServiceAccount with the RBAC from deploy/. No kubelet runs here, so the tests
// play its part and mark Pods Ready through the status subresource.
import { strict as assert } from "node:assert";
import type {
  KubernetesObject,
  V1NetworkPolicy,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodDisruptionBudget,
  V1Service,
} from "@kubernetes/client-node";
import type { RqCluster } from "../../shared/index.js";
import type { ControlPlane } from "../../testenv/controlplane.js";
import {
  FAST_LEASE_ARGS,
  operatorKubeconfig,
  startController,
  type ControllerProcess,
} from "../../testenv/controller.js";
import { eventually as eventuallyWithin } from "../../testenv/eventually.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";

const eventually = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 20_000) =>
  eventuallyWithin(what, check, timeoutMs, { intervalMs: 150 });

const OPERATOR_NS = "rqlite-operator-system";
const FAST_LEASE = ["--leader-elect", `--leader-election-namespace=${OPERATOR_NS}`, ...FAST_LEASE_ARGS];
const WRITES = ["POST", "PATCH", "DELETE"];

/** What `kubectl get <kind>` returns, by the short names these tests use. */
interface Kinds {
  rqc: RqCluster;
  pod: V1Pod;
  pods: V1Pod;
  pvc: V1PersistentVolumeClaim;
  svc: V1Service;
  pdb: V1PodDisruptionBudget;
  netpol: V1NetworkPolicy;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("controller on the real control plane", function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let ns: string;
  let kubeconfig: string;
  const controllers: ControllerProcess[] = [];

  const get = async <K extends keyof Kinds>(kind: K, name: string): Promise<Kinds[K] | undefined> => {
    const r = await cp.kubectl(["get", kind, name, "-n", ns, "-o", "json"]);
    return r.code === 0 ? (JSON.parse(r.stdout) as Kinds[K]) : undefined;
  };
  const list = async <K extends keyof Kinds>(kind: K, selector: string): Promise<Kinds[K][]> =>
    (JSON.parse(await cp.kubectlOk(["get", kind, "-n", ns, "-l", selector, "-o", "json"])) as { items: Kinds[K][] })
      .items;
  const podNames = async (cluster: string) =>
    (await list("pods", `rqlite.io/cluster=${cluster}`)).map((p) => p.metadata!.name!).sort();
  const apply = (manifest: object) => cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify(manifest) });
  const cluster = (name: string, spec: object) => ({
    apiVersion: "rqlite.io/v1alpha1",
    kind: "RqCluster",
    metadata: { name, namespace: ns },
    spec,
  });
  const markReady = (pod: string) =>
    cp.kubectlOk([
      "patch",
      "pod",
      pod,
      "-n",
      ns,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] } }),
    ]);
  const markAllReady = async (name: string) => {
    for (const p of await list("pods", `rqlite.io/cluster=${name}`)) {
      if (!p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
        await markReady(p.metadata!.name!);
    }
  };
  const writes = (c: ControllerProcess) =>
    Promise.all(WRITES.map((method) => c.counter("rest_client_requests_total", { method }))).then((xs) =>
      xs.reduce((a, b) => a + b, 0),
    );
  const status = async (name: string) => (await get("rqc", name))?.status;

  before(async () => {
    cp = await sharedControlPlane();
    kubeconfig = await operatorKubeconfig(cp);
    ns = await createTestNamespace(cp, "ctrl");
    controllers.push(await startController({ kubeconfig, logDir: cp.dir, name: "controller-a", args: FAST_LEASE }));
    await eventually("controller-a to lead", () => controllers[0]!.isLeader());
  });

  after(async () => {
    await Promise.all(controllers.map((c) => c.stop()));
  });

  it("creates every child exactly as specified, owned by the cluster", async () => {
    await apply(cluster("demo", { replicas: 3, readReplicas: 1, image: "rqlite/rqlite:8.43.4" }));
    await eventually("4 pods", async () => (await podNames("demo")).length === 4);
    const rqc = (await get("rqc", "demo"))!;
    assert.deepEqual(rqc.metadata?.finalizers, ["rqlite.io/finalizer"]);
    const owner = (o: KubernetesObject) =>
      o.metadata?.ownerReferences?.length === 1 &&
      o.metadata.ownerReferences[0]!.uid === rqc.metadata?.uid &&
      o.metadata.ownerReferences[0]!.controller;

    assert.deepEqual(await podNames("demo"), ["demo-0", "demo-1", "demo-2", "demo-ro-0"]);
    for (const pod of await list("pods", "rqlite.io/cluster=demo")) {
      const name = pod.metadata!.name!;
      const spec = pod.spec!;
      assert.ok(owner(pod), `${name} is owned by the cluster`);
      assert.equal(spec.hostname, name);
      assert.equal(spec.subdomain, "demo-internal");
      const args = spec.containers[0]!.args ?? [];
      assert.ok(args.includes(`-node-id=${name}`));
      if (name.includes("-ro-")) assert.ok(args.includes("-raft-non-voter=true"));
      else assert.ok(args.includes("-bootstrap-expect=3"));
      assert.equal(spec.containers[0]!.image, "rqlite/rqlite:8.43.4");
      assert.equal(
        spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0]?.podAffinityTerm
          .topologyKey,
        "kubernetes.io/hostname",
      );
      assert.equal(spec.volumes?.[0]?.persistentVolumeClaim?.claimName, name);
    }
    const pvcs = await list("pvc", "rqlite.io/cluster=demo");
    assert.deepEqual(pvcs.map((p) => p.metadata?.name).sort(), ["demo-0", "demo-1", "demo-2", "demo-ro-0"]);
    // reclaimPolicy defaults to Retain: no owner reference the garbage collector could act on.
    assert.ok(
      pvcs.every((p) => !p.metadata?.ownerReferences?.length && p.spec?.resources?.requests?.storage === "1Gi"),
    );
    const headless = (await get("svc", "demo-internal"))!;
    assert.equal(headless.spec?.clusterIP, "None");
    assert.equal(headless.spec?.publishNotReadyAddresses, true);
    assert.deepEqual(
      headless.spec?.ports?.map((p) => p.port),
      [4001, 4002],
    );
    const client = (await get("svc", "demo"))!;
    assert.deepEqual(
      client.spec?.ports?.map((p) => p.port),
      [4001],
    );
    const pdb = (await get("pdb", "demo"))!;
    assert.equal(pdb.spec?.minAvailable, 2, "3 voters, maxUnavailable 1");
    assert.equal(pdb.spec?.selector?.matchLabels?.["rqlite.io/role"], "voter");
    // The API server validated the rendered policy on create; what it admits is unit-tested.
    const policy = (await get("netpol", "demo"))!;
    assert.deepEqual(policy.spec?.policyTypes, ["Ingress"]);
    assert.equal(policy.spec?.podSelector?.matchLabels?.["rqlite.io/cluster"], "demo");
    assert.ok([headless, client, pdb, policy].every(owner));
  });

  it("writes status and conditions from what it observes", async () => {
    const creating = await eventually("status", () => status("demo"));
    assert.equal(creating.phase, "Creating");
    await markAllReady("demo");
    const running = await eventually("phase Running", async () =>
      (await status("demo"))?.phase === "Running" ? status("demo") : undefined,
    );
    assert.equal(running.readyReplicas, 3);
    assert.equal(running.readReplicasReady, 1);
    assert.equal(running.replicas, 3);
    assert.equal(running.observedGeneration, 1);
    assert.match(running.selector ?? "", /rqlite\.io\/cluster=demo/);
    const available = running.conditions?.find((c) => c.type === "Available");
    assert.equal(available?.status, "True");
    const events = await cp.kubectlOk([
      "get",
      "events",
      "-n",
      ns,
      "--field-selector",
      "involvedObject.name=demo",
      "-o",
      "jsonpath={.items[*].reason}",
    ]);
    assert.match(events, /Created/);
  });

  it("writes nothing in a steady state, whatever wakes it", async () => {
    const a = controllers[0]!;
    await sleep(1500);
    const before = await writes(a);
    const reconcilesBefore = await a.counter("controller_runtime_reconcile_total");
    await cp.kubectlOk(["annotate", "rqc", "demo", "-n", ns, "poke=1"]);
    await cp.kubectlOk(["annotate", "pod", "demo-1", "-n", ns, "poke=1"]);
    await cp.kubectlOk(["annotate", "svc", "demo", "-n", ns, "poke=1"]);
    await eventually(
      "the pokes to be reconciled",
      async () => (await a.counter("controller_runtime_reconcile_total")) >= reconcilesBefore + 2,
    );
    await sleep(1500);
    assert.equal(await writes(a), before, "a converged cluster must cause zero writes");
  });

  it("removes nested status keys it no longer computes, then patches nothing more", async () => {
    const a = controllers[0]!;
    // What a cluster whose spec.backup was removed keeps from before: the uploader's counters
    // and the retention count, which the computed status drops, beside the last success, which
    // it keeps (one-shot RqBackups record theirs there too).
    const patched = JSON.parse(
      await cp.kubectlOk([
        "patch",
        "rqc",
        "demo",
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-o",
        "json",
        "-p",
        JSON.stringify({
          status: {
            backup: {
              lastSuccessfulTime: "2026-01-02T03:04:05Z",
              uploader: { node: "demo-0", ok: 7, fail: 1 },
              retainedObjects: 5,
            },
          },
        }),
      ]),
    ) as RqCluster;
    // As the API server stored it (the controller may clear it the moment its watch sees it).
    assert.deepEqual(patched.status?.backup?.uploader, { node: "demo-0", ok: 7, fail: 1 });
    // Read back from the API server, not from any cache.
    const cleared = await eventually("status.backup cleared on the server", async () => {
      const s = await status("demo");
      return s && s.backup?.uploader === undefined && s.backup?.retainedObjects === undefined ? s : undefined;
    });
    assert.deepEqual(cleared.backup, { lastSuccessfulTime: "2026-01-02T03:04:05Z" }, "what it computes stays");
    assert.equal(cleared.phase, "Running");
    await sleep(1500);
    const patches = () => a.counter("rest_client_requests_total", { method: "PATCH" });
    const before = await patches();
    const reconciles = await a.counter("controller_runtime_reconcile_total");
    await cp.kubectlOk(["annotate", "rqc", "demo", "-n", ns, "poke=3", "--overwrite"]);
    await eventually(
      "the poke to be reconciled",
      async () => (await a.counter("controller_runtime_reconcile_total")) > reconciles,
    );
    await sleep(1500);
    assert.equal(await patches(), before, "a steady reconcile sends no PATCH");
  });

  it("scales voters up one node at a time without touching existing pods", async () => {
    const uidBefore = (await get("pod", "demo-0"))!.metadata?.uid;
    await cp.kubectlOk(["scale", "rqc", "demo", "-n", ns, "--replicas=5"]);
    await eventually("demo-3", () => get("pod", "demo-3"));
    await sleep(1500);
    assert.equal(await get("pod", "demo-4"), undefined, "demo-4 waits until demo-3 is ready");
    await markReady("demo-3");
    await eventually("demo-4", () => get("pod", "demo-4"));
    await markReady("demo-4");
    const st = await eventually("5 ready voters", async () =>
      (await status("demo"))?.readyReplicas === 5 ? status("demo") : undefined,
    );
    assert.equal(st.phase, "Running");
    assert.equal((await get("pod", "demo-0"))!.metadata?.uid, uidBefore, "scaling never rolls existing pods");
    assert.ok((await get("pod", "demo-4"))!.spec?.containers[0]?.args?.includes("-bootstrap-expect=3"));
  });

  it("never removes a voter that rqlite cannot confirm is out of the Raft configuration", async () => {
    // No rqlited runs in this suite, so no leader can confirm the removal: the Pods must stay.
    // test/e2e runs the real scale-down against real rqlite nodes.
    await cp.kubectlOk(["scale", "rqc", "demo", "-n", ns, "--replicas=3"]);
    await eventually(
      "a WaitingForLeader warning",
      async () =>
        (
          await cp.kubectlOk(["get", "events", "-n", ns, "--field-selector", "reason=WaitingForLeader", "-o", "name"])
        ).trim() !== "",
    );
    await sleep(1500);
    assert.deepEqual(await podNames("demo"), ["demo-0", "demo-1", "demo-2", "demo-3", "demo-4", "demo-ro-0"]);
    await cp.kubectlOk(["scale", "rqc", "demo", "-n", ns, "--replicas=5"]);
  });

  it("recreates a child deleted by hand and restores one edited by hand", async () => {
    const svcUid = (await get("svc", "demo"))!.metadata?.uid;
    await cp.kubectlOk(["delete", "svc", "demo", "-n", ns]);
    await eventually(
      "client Service recreated",
      async () => {
        const s = await get("svc", "demo");
        return s && s.metadata?.uid !== svcUid;
      },
      10_000,
    );
    // A user's own annotation and label on a child, and an edit of a field the operator owns.
    await cp.kubectlOk(["annotate", "svc", "demo-internal", "-n", ns, "example.com/owner=team-a"]);
    await cp.kubectlOk(["label", "svc", "demo-internal", "-n", ns, "example.com/tier=db"]);
    await cp.kubectlOk([
      "patch",
      "svc",
      "demo-internal",
      "-n",
      ns,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { publishNotReadyAddresses: false, selector: { extra: "x" } } }),
    ]);
    const restored = await eventually(
      "headless Service restored",
      async () => {
        const s = (await get("svc", "demo-internal"))!;
        return s.spec?.publishNotReadyAddresses === true && !("extra" in (s.spec.selector ?? {})) ? s : undefined;
      },
      10_000,
    );
    assert.equal(restored.metadata?.annotations?.["example.com/owner"], "team-a", "the user's annotation stays");
    assert.equal(restored.metadata?.labels?.["example.com/tier"], "db", "the user's label stays");
    // Server-side apply: the operator's field manager owns the field it put back, not the user's.
    const withFields = JSON.parse(
      await cp.kubectlOk(["get", "svc", "demo-internal", "-n", ns, "-o", "json", "--show-managed-fields"]),
    ) as V1Service;
    const applied = withFields.metadata?.managedFields?.find(
      (f) => f.manager === "rqlite-operator" && f.operation === "Apply",
    );
    assert.ok(applied, `an Apply entry of rqlite-operator: ${JSON.stringify(withFields.metadata?.managedFields)}`);
    const owns = JSON.stringify(applied.fieldsV1);
    assert.match(owns, /"f:publishNotReadyAddresses"/);
    assert.doesNotMatch(owns, /example\.com\/owner/);
    await cp.kubectlOk(["label", "pod", "demo-1", "-n", ns, "rqlite.io/role-"]);
    await eventually(
      "pod label restored",
      async () => (await get("pod", "demo-1"))!.metadata?.labels?.["rqlite.io/role"] === "voter",
      10_000,
    );
    const minAvailable = (await get("pdb", "demo"))!.spec?.minAvailable;
    await cp.kubectlOk(["patch", "pdb", "demo", "-n", ns, "--type=merge", "-p", '{"spec":{"minAvailable":0}}']);
    await eventually(
      "PDB restored",
      async () => (await get("pdb", "demo"))!.spec?.minAvailable === minAvailable,
      10_000,
    );
  });

  it("retries with backoff when a create conflicts, then converges", async () => {
    const a = controllers[0]!;
    const errorsBefore = await a.counter("controller_runtime_reconcile_errors_total");
    // A Pod the controller does not own squats on the name it needs: creating it gets 409.
    await apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "squat-0", namespace: ns },
      spec: { containers: [{ name: "c", image: "busybox" }] },
    });
    await apply(cluster("squat", { replicas: 1 }));
    await eventually(
      "a reconcile error",
      async () => (await a.counter("controller_runtime_reconcile_errors_total")) > errorsBefore,
    );
    assert.ok((await a.counter("workqueue_retries_total", { name: "rqcluster" })) > 0);
    await cp.kubectlOk(["delete", "pod", "squat-0", "-n", ns, "--wait=true"]);
    await eventually("the controller's own squat-0", async () => {
      const p = await get("pod", "squat-0");
      return p?.metadata?.labels?.["rqlite.io/cluster"] === "squat";
    });
  });

  it("changes nothing while paused, and catches up when unpaused", async () => {
    await cp.kubectlOk(["patch", "rqc", "squat", "-n", ns, "--type=merge", "-p", '{"spec":{"paused":true}}']);
    await eventually("phase Paused", async () => (await status("squat"))?.phase === "Paused");
    await cp.kubectlOk(["delete", "svc", "squat", "-n", ns]);
    await sleep(2000);
    assert.equal(await get("svc", "squat"), undefined, "a paused cluster is not repaired");
    await cp.kubectlOk(["patch", "rqc", "squat", "-n", ns, "--type=merge", "-p", '{"spec":{"paused":false}}']);
    await eventually("Service recreated after unpause", () => get("svc", "squat"));
  });

  it("honours storage.reclaimPolicy when a cluster is deleted", async () => {
    await cp.kubectlOk(["delete", "rqc", "squat", "-n", ns, "--wait=true", "--timeout=30s"]);
    const kept = (await get("pvc", "squat-0"))!;
    assert.ok(kept, "Retain keeps the PVC");
    assert.deepEqual(
      kept.metadata?.ownerReferences ?? [],
      [],
      "a retained PVC no longer belongs to the deleted cluster",
    );

    await apply(cluster("gone", { replicas: 1, storage: { reclaimPolicy: "Delete" } }));
    await eventually("gone-0 PVC", () => get("pvc", "gone-0"));
    await cp.kubectlOk(["delete", "rqc", "gone", "-n", ns, "--wait=true", "--timeout=30s"]);
    // pvc-protection holds the PVC until a controller-manager releases it; the delete was issued.
    const pvc = await get("pvc", "gone-0");
    assert.ok(!pvc || pvc.metadata?.deletionTimestamp, "Delete removes the PVC");
  });

  it("refuses a clashing name it judges again, and reports children of another owner as a condition", async () => {
    // The webhook rejects such names; this suite has none, as a cluster whose webhook is bypassed:
    // the controller judges it again and leaves it alone.
    const a = controllers[0]!;
    await apply(cluster("nc-ro", { replicas: 1 }));
    const invalid = await eventually("an InvalidSpec condition", async () =>
      (await status("nc-ro"))?.conditions?.find((c) => c.type === "Degraded" && c.reason === "InvalidSpec"),
    );
    assert.match(invalid.message, /metadata\.name: Invalid value: "nc-ro": may not end in "-ro"/);
    assert.equal(await get("pod", "nc-ro-0"), undefined, "nothing is created for an invalid cluster");
    // A child of this cluster's name that another owner holds is left alone, with a condition.
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: "nc-ro-0",
          namespace: ns,
          labels: { "app.kubernetes.io/managed-by": "rqlite-operator", "rqlite.io/cluster": "other" },
          ownerReferences: [
            { apiVersion: "v1", kind: "ConfigMap", name: "other", uid: "00000000-0000-4000-8000-000000000001" },
          ],
        },
        spec: { containers: [{ name: "other", image: "busybox:1.36" }] },
      }),
    });
    await apply(cluster("nc", { replicas: 1, readReplicas: 1 }));
    const st = await eventually("a NameConflict condition", async () => {
      const s = await status("nc");
      return s?.conditions?.some((c) => c.type === "Progressing" && c.reason === "NameConflict") ? s : undefined;
    });
    assert.match(st.conditions!.find((c) => c.reason === "NameConflict")!.message, /nc-ro-0/);
    await eventually("nc-0 still created", () => get("pod", "nc-0"));
    const errors = await a.counter("controller_runtime_reconcile_errors_total");
    await sleep(3000);
    assert.equal(await a.counter("controller_runtime_reconcile_errors_total"), errors, "no error loop");
    assert.equal((await get("pod", "nc-ro-0"))!.metadata?.labels?.["rqlite.io/cluster"], "other", "untouched");
    await cp.kubectlOk(["delete", "rqc", "nc", "nc-ro", "-n", ns, "--wait=true", "--timeout=30s"]);
    await cp.kubectlOk(["delete", "pod", "nc-ro-0", "-n", ns, "--grace-period=0", "--force"]);
  });

  it("refuses a pod template admission would have refused, holding every Pod change, with a condition", async () => {
    // No webhook here: the template below reached the API server as if the webhook were bypassed.
    const refused = async (name: string, pattern: RegExp, reason = "PodTemplateRefused") => {
      const s = await eventually(`${name}: a ${reason} condition`, async () => {
        const st = await status(name);
        return st?.conditions?.some((c) => c.reason === reason) ? st : undefined;
      });
      assert.match(s.conditions!.find((c) => c.reason === reason)!.message, pattern);
      assert.equal(await get("pod", `${name}-0`), undefined, "no Pod rendered from it");
    };
    // An inline template is part of the spec, which the controller judges whole before anything else.
    await apply(cluster("tsa", { replicas: 1, podTemplate: { spec: { serviceAccountName: "tenant-admin" } } }));
    await refused("tsa", /spec\.podTemplate\.spec\.serviceAccountName: Forbidden/, "InvalidSpec");

    const template = JSON.stringify({ metadata: { labels: { team: "a" } } });
    await cp.kubectlOk(["create", "configmap", "tcm", "-n", ns, `--from-literal=pod-template.json=${template}`]);
    await apply(cluster("tcm", { replicas: 1, podTemplateConfigMap: { name: "tcm" } }));
    await refused("tcm", /ConfigMap .*\/tcm .* has no rqlite\.io\/pod-template label, so admission never checked it/);
    await cp.kubectlOk(["label", "configmap", "tcm", "-n", ns, "rqlite.io/pod-template=true"]);
    await cp.kubectlOk(["annotate", "rqc", "tcm", "-n", ns, "touched=1"]);
    const pod = await eventually("tcm-0 from the labelled template", () => get("pod", "tcm-0"));
    assert.equal(pod.metadata!.labels!.team, "a");
    assert.equal(pod.spec!.automountServiceAccountToken, false);
    await cp.kubectlOk(["delete", "rqc", "tsa", "tcm", "-n", ns, "--wait=true", "--timeout=30s"]);
  });

  it("keeps reconciling when the StorageClass refuses PVC growth, with a Warning and a condition", async () => {
    await apply(cluster("grow", { replicas: 1 }));
    await eventually("grow-0", () => get("pod", "grow-0"));
    await markAllReady("grow");
    await cp.kubectlOk(["patch", "rqc", "grow", "-n", ns, "--type=merge", "-p", '{"spec":{"storage":{"size":"2Gi"}}}']);
    const st = await eventually("a StorageResizeRefused condition", async () => {
      const s = await status("grow");
      return s?.conditions?.some((c) => c.reason === "StorageResizeRefused") ? s : undefined;
    });
    assert.match(st.conditions!.find((c) => c.reason === "StorageResizeRefused")!.message, /PVC grow-0 cannot grow/);
    const warnings = await cp.kubectlOk([
      "get",
      "events",
      "-n",
      ns,
      "--field-selector",
      "reason=StorageResizeRefused,type=Warning",
      "-o",
      "name",
    ]);
    assert.notEqual(warnings.trim(), "");
    // The rest of the reconcile still runs: scaling up proceeds.
    await cp.kubectlOk(["scale", "rqc", "grow", "-n", ns, "--replicas=2"]);
    await eventually("grow-1 created despite the refused growth", () => get("pod", "grow-1"));
  });

  it("gives PVCs an owner reference only while reclaimPolicy is Delete", async () => {
    const refs = async () => (await get("pvc", "grow-0"))!.metadata?.ownerReferences?.length ?? 0;
    assert.equal(await refs(), 0, "Retain: nothing for the garbage collector or a foreground delete to act on");
    const policy = (p: string) =>
      cp.kubectlOk([
        "patch",
        "rqc",
        "grow",
        "-n",
        ns,
        "--type=merge",
        "-p",
        JSON.stringify({ spec: { storage: { reclaimPolicy: p } } }),
      ]);
    await policy("Delete");
    await eventually("owner reference added", async () => (await refs()) === 1);
    await policy("Retain");
    await eventually("owner reference removed", async () => (await refs()) === 0);
  });

  it("clears a leader that no longer holds, drops has_leader to 0, and re-sends no unchanged status", async () => {
    const a = controllers[0]!;
    // No rqlited runs here: a leader in status is stale by construction.
    await cp.kubectlOk([
      "patch",
      "rqc",
      "grow",
      "-n",
      ns,
      "--subresource=status",
      "--type=merge",
      "-p",
      '{"status":{"leader":"grow-0"}}',
    ]);
    await eventually("the stale leader cleared", async () => (await status("grow"))?.leader === undefined);
    assert.equal(await a.counter("rqlite_operator_cluster_has_leader", { namespace: ns, cluster: "grow" }), 0);
    // It waits on rqlite (requeued every 2 s); waiting must not rewrite an unchanged status.
    await cp.kubectlOk(["scale", "rqc", "grow", "-n", ns, "--replicas=1"]);
    await eventually("a WaitingForLeader warning", async () =>
      (
        await cp.kubectlOk(["get", "events", "-n", ns, "--field-selector", "reason=WaitingForLeader", "-o", "name"])
      ).includes("grow"),
    );
    await sleep(1500);
    const patches = () => a.counter("rest_client_requests_total", { method: "PATCH" });
    const before = await patches();
    await sleep(5000);
    assert.equal(await patches(), before, "no status re-sent while waiting");
    await cp.kubectlOk(["delete", "rqc", "grow", "-n", ns, "--wait=true", "--timeout=30s"]);
  });

  it("runs two replicas of which only the Lease holder writes", async () => {
    controllers.push(await startController({ kubeconfig, logDir: cp.dir, name: "controller-b", args: FAST_LEASE }));
    const [a, b] = controllers as [ControllerProcess, ControllerProcess];
    await apply(cluster("two", { replicas: 1 }));
    await eventually("two-0", () => get("pod", "two-0"));
    assert.equal(await a.isLeader(), true);
    assert.equal(await b.isLeader(), false);
    assert.equal(await writes(b), 0, "the standby never writes");
  });

  it("hands over within 2 s when the leader gets SIGTERM and releases the Lease", async () => {
    const [a, b] = controllers as [ControllerProcess, ControllerProcess];
    const sent = Date.now();
    a.signal("SIGTERM");
    await eventually("controller-b to lead", () => b.isLeader(), 10_000);
    const handover = Date.now() - sent;
    console.log(`      graceful handover: ${handover} ms`);
    assert.ok(handover < 2000, `handover took ${handover} ms`);
    assert.equal(await a.proc.exited, "exit code 0");
    await apply(cluster("after-term", { replicas: 1 }));
    await eventually("the new leader converges a new cluster", () => get("pod", "after-term-0"));
  });

  it("takes over within the lease duration when the leader is killed", async () => {
    const b = controllers[1]!;
    controllers.push(await startController({ kubeconfig, logDir: cp.dir, name: "controller-c", args: FAST_LEASE }));
    const c = controllers[2]!;
    const sent = Date.now();
    b.signal("SIGKILL");
    await eventually("controller-c to lead", () => c.isLeader(), 15_000);
    const takeover = Date.now() - sent;
    console.log(`      crash takeover: ${takeover} ms (lease 4 s + retry 1 s)`);
    assert.ok(takeover < 4000 + 1000 + 1500, `takeover took ${takeover} ms`);
  });

  it("resumes and converges after the API server restarts", async () => {
    // The restart takes longer than the fast lease's renew deadline, after which a leader must
    // step down; this replica's lease outlasts it, so its informers have to resume by themselves.
    await controllers[2]!.stop();
    controllers.push(
      await startController({
        kubeconfig,
        logDir: cp.dir,
        name: "controller-d",
        args: [
          "--leader-elect",
          `--leader-election-namespace=${OPERATOR_NS}`,
          "--lease-duration=40",
          "--renew-deadline=30",
          "--retry-period=1",
        ],
      }),
    );
    const d = controllers[3]!;
    await eventually("controller-d to lead", () => d.isLeader(), 20_000);
    await cp.restartApiServer();
    await apply(cluster("after-restart", { replicas: 1 }));
    await eventually("converged after the restart", () => get("pod", "after-restart-0"), 60_000);
    assert.equal(d.proc.child.exitCode, null, "the controller survived the restart");
    assert.equal(await d.isLeader(), true);
  });
});
