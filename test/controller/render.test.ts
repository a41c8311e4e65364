import { strict as assert } from "node:assert";
import {
  renderClientService,
  renderHeadlessService,
  renderNetworkPolicy,
  renderPdb,
  renderPvc,
  renderReadService,
} from "../../controller/rqcluster/render/children.js";
import type { ClusterView, DefaultedSpec } from "../../controller/rqcluster/render/cluster.js";
import { desiredMembers } from "../../controller/rqcluster/render/members.js";
import type { Addressing } from "../../controller/access/clusterView.js";
import { podSpecHash, renderPod, rqlitedArgs, SPEC_HASH_ANNOTATION } from "../../controller/rqcluster/render/pod.js";
import { extraKeysPatch, isSubset } from "../../controller/rqcluster/drift.js";
import { mergeTemplate } from "../../shared/template-merge.js";
import { clusterLabels, DESCRIPTIVE_LABELS, selectorLabels, parseMemberName } from "../../shared/names.js";
import { planPodMetadata } from "../../controller/rqcluster/plan/children.js";

const dns: Addressing = { kind: "dns", clusterDomain: "cluster.local" };

function view(overrides: Partial<DefaultedSpec> = {}): ClusterView {
  const spec: DefaultedSpec = {
    replicas: 3,
    readReplicas: 0,
    image: "rqlite/rqlite:8.43.4",
    imagePullPolicy: "IfNotPresent",
    storage: { size: "1Gi", reclaimPolicy: "Retain", scaleDownPolicy: "Delete" },
    resources: { requests: { cpu: "100m", memory: "128Mi" } },
    affinity: { podAntiAffinity: "Preferred", topologyKey: "kubernetes.io/hostname" },
    podDisruptionBudget: { maxUnavailable: 1 },
    maintenance: { inProgress: false },
    network: { policy: true },
    updateStrategy: { type: "RollingUpdate" },
    paused: false,
    hibernate: false,
    ...overrides,
  };
  return {
    name: "demo",
    namespace: "db",
    uid: "u-1",
    generation: 1,
    spec,
    labels: clusterLabels("demo", spec.image),
    selector: selectorLabels("demo"),
    readService: "demo-ro",
    headlessService: "demo-internal",
    clientService: "demo",
    pdbName: "demo",
    ownerReference: {
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      name: "demo",
      uid: "u-1",
      controller: true,
      blockOwnerDeletion: true,
    },
    self: {
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: "demo", namespace: "db", uid: "u-1" },
    },
  };
}

describe("render: members", () => {
  it("names voters and read replicas and parses them back", () => {
    const ms = desiredMembers("demo", 2, 1);
    assert.deepEqual(
      ms.map((m) => m.name),
      ["demo-0", "demo-1", "demo-ro-0"],
    );
    assert.deepEqual(parseMemberName("demo", "demo-ro-0"), { name: "demo-ro-0", ordinal: 0, role: "read-only" });
    assert.equal(parseMemberName("demo", "demo-internal"), undefined);
    assert.equal(parseMemberName("demo", "demo-01"), undefined);
    assert.equal(parseMemberName("demo", "other-1"), undefined);
  });
});

describe("render: pod", () => {
  const voter = { name: "demo-1", ordinal: 1, role: "voter" as const };

  it("gives each node a DNS identity and rqlited flags for DNS discovery", () => {
    const pod = renderPod(view(), { member: voter, bootstrapExpect: 3, addressing: dns });
    assert.equal(pod.spec!.hostname, "demo-1");
    assert.equal(pod.spec!.subdomain, "demo-internal");
    const args = pod.spec!.containers[0]!.args!;
    assert.ok(args.includes("-node-id=demo-1"));
    assert.ok(args.includes("-http-adv-addr=demo-1.demo-internal.db.svc.cluster.local:4001"));
    assert.ok(args.includes("-disco-mode=dns"));
    assert.ok(args.includes("-bootstrap-expect=3"));
    assert.equal(args.at(-1), "/rqlite/file/data");
    assert.deepEqual(pod.metadata!.ownerReferences, [view().ownerReference]);
    assert.equal(pod.spec!.volumes![0]!.persistentVolumeClaim!.claimName, "demo-1");
  });

  it("marks read replicas as non-voters without bootstrap-expect", () => {
    const args = rqlitedArgs(view(), {
      member: { name: "demo-ro-0", ordinal: 0, role: "read-only" },
      bootstrapExpect: 3,
      addressing: dns,
    });
    assert.ok(args.includes("-raft-non-voter=true"));
    assert.equal(
      args.some((a) => a.startsWith("-bootstrap-expect")),
      false,
    );
  });

  it("uses loopback addresses and a join list in static addressing", () => {
    const addressing: Addressing = {
      kind: "static",
      addressOf: (_ns, n) => `127.0.1.${Number(n.split("-").pop()) + 1}`,
    };
    const args = rqlitedArgs(view(), { member: voter, bootstrapExpect: 3, addressing });
    assert.ok(args.includes("-http-addr=127.0.1.2:4001"));
    assert.ok(args.includes("-join=127.0.1.1:4002,127.0.1.2:4002,127.0.1.3:4002"));
  });

  it("mounts auth and TLS Secrets and passes them as flags", () => {
    const c = view({ auth: { secretName: "users" }, tls: { http: { secretName: "h" }, node: { secretName: "n" } } });
    const pod = renderPod(c, { member: voter, bootstrapExpect: 3, addressing: dns });
    const ct = pod.spec!.containers[0]!;
    assert.ok(ct.args!.includes("-auth=/rqlite/auth/users.json"));
    assert.ok(ct.args!.includes("-http-cert=/rqlite/tls/http/tls.crt"));
    assert.ok(ct.args!.includes("-node-ca-cert=/rqlite/tls/node/ca.crt"));
    assert.ok(ct.args!.includes("-node-verify-client"), "mutual TLS between nodes");
    assert.deepEqual(
      pod.spec!.volumes!.map((v) => v.secret?.secretName ?? v.name),
      ["data", "demo-operator-auth", "h", "n"],
    );
    assert.equal(ct.readinessProbe!.httpGet!.scheme, "HTTPS");
  });

  it("spreads nodes per affinity", () => {
    const req = renderPod(view({ affinity: { podAntiAffinity: "Required", topologyKey: "zone" } }), {
      member: voter,
      bootstrapExpect: 3,
      addressing: dns,
    });
    assert.equal(
      req.spec!.affinity!.podAntiAffinity!.requiredDuringSchedulingIgnoredDuringExecution![0]!.topologyKey,
      "zone",
    );
    const none = renderPod(view({ affinity: { podAntiAffinity: "None", topologyKey: "zone" } }), {
      member: voter,
      bootstrapExpect: 3,
      addressing: dns,
    });
    assert.equal(none.spec!.affinity, undefined);
  });

  it("applies the template as a merge patch but keeps what the operator owns", () => {
    const template = {
      metadata: { labels: { team: "db", "rqlite.io/cluster": "hijack" }, annotations: { a: "b" } },
      spec: {
        hostname: "nope",
        priorityClassName: "high",
        containers: [
          { name: "rqlite", image: "evil", resources: { limits: { memory: "1Gi" } } },
          { name: "sidecar", image: "busybox" },
        ],
        volumes: [{ name: "scratch", emptyDir: {} }],
      },
    };
    const pod = renderPod(view(), { member: voter, bootstrapExpect: 3, addressing: dns, template });
    assert.equal(pod.metadata!.labels!.team, "db");
    assert.equal(pod.metadata!.labels!["rqlite.io/cluster"], "demo");
    assert.equal(pod.spec!.hostname, "demo-1");
    assert.equal(pod.spec!.priorityClassName, "high");
    const [rq, side] = pod.spec!.containers;
    assert.equal(rq!.image, "rqlite/rqlite:8.43.4");
    assert.deepEqual(rq!.resources!.limits, { memory: "1Gi" });
    assert.ok(rq!.readinessProbe, "generated fields of the rqlite container survive");
    assert.equal(side!.name, "sidecar");
    assert.deepEqual(
      pod.spec!.volumes!.map((v) => v.name),
      ["data", "scratch"],
    );
  });

  it("runs containers a template adds with the restricted settings, and no API token", () => {
    const template = {
      spec: {
        automountServiceAccountToken: true,
        containers: [{ name: "side", image: "busybox", securityContext: { runAsUser: 2000 } }],
        initContainers: [{ name: "init", image: "busybox" }],
      },
    };
    const pod = renderPod(view(), { member: voter, bootstrapExpect: 3, addressing: dns, template });
    assert.equal(pod.spec!.automountServiceAccountToken, false);
    const restricted = { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } };
    assert.deepEqual(pod.spec!.containers[1]!.securityContext, { ...restricted, runAsUser: 2000 });
    assert.deepEqual(pod.spec!.initContainers![0]!.securityContext, restricted);
    const plain = renderPod(view(), { member: voter, bootstrapExpect: 3, addressing: dns });
    assert.equal(plain.spec!.automountServiceAccountToken, false);
  });

  // I8 with the webhook bypassed: the template cannot rewrite the operator's record on the Pod.
  it("drops the template's rqlite.io/ annotations and keeps the generated ones", () => {
    const template = {
      metadata: {
        annotations: { "rqlite.io/bootstrap-expect": "5", "rqlite.io/auth-hash": "forged", team: "db" },
      },
    };
    const pod = renderPod(view(), { member: voter, bootstrapExpect: 3, addressing: dns, template });
    const plain = renderPod(view(), { member: voter, bootstrapExpect: 3, addressing: dns });
    const annotations = pod.metadata!.annotations!;
    assert.equal(annotations["rqlite.io/bootstrap-expect"], "3");
    assert.equal(annotations["rqlite.io/auth-hash"], undefined);
    assert.equal(annotations.team, "db");
    // Removing one through null puts it back too.
    const removed = renderPod(view(), {
      member: voter,
      bootstrapExpect: 3,
      addressing: dns,
      template: { metadata: { annotations: { "rqlite.io/bootstrap-expect": null } } },
    });
    assert.deepEqual(removed.metadata!.annotations, plain.metadata!.annotations);
  });

  it("hashes what the pod runs: the same inputs give the same hash, a new image a new one", () => {
    const a = renderPod(view(), { member: voter, bootstrapExpect: 3, addressing: dns });
    const b = renderPod(view(), { member: voter, bootstrapExpect: 3, addressing: dns });
    const c = renderPod(view({ image: "rqlite/rqlite:8.44.0" }), {
      member: voter,
      bootstrapExpect: 3,
      addressing: dns,
    });
    assert.equal(a.metadata!.annotations![SPEC_HASH_ANNOTATION], b.metadata!.annotations![SPEC_HASH_ANNOTATION]);
    assert.notEqual(a.metadata!.annotations![SPEC_HASH_ANNOTATION], c.metadata!.annotations![SPEC_HASH_ANNOTATION]);
  });

  it("labels a Pod with the five recommended labels, and hashes none of the descriptive ones", () => {
    const pod = renderPod(view(), { member: voter, bootstrapExpect: 3, addressing: dns });
    const labels = pod.metadata!.labels!;
    assert.equal(labels["app.kubernetes.io/name"], "rqlite");
    assert.equal(labels["app.kubernetes.io/instance"], "demo");
    assert.equal(labels["app.kubernetes.io/component"], "database");
    assert.equal(labels["app.kubernetes.io/part-of"], "rqlite");
    assert.equal(labels["app.kubernetes.io/version"], "8.43.4");
    assert.equal(labels["app.kubernetes.io/managed-by"], "rqlite-operator");
    // A Pod made before the operator set these labels (or under another version label) keeps
    // its hash: adding them, or an upgrade's metadata patch, rolls nothing.
    const { [SPEC_HASH_ANNOTATION]: hash, ...annotations } = pod.metadata!.annotations!;
    const older = Object.fromEntries(Object.entries(labels).filter(([k]) => !DESCRIPTIVE_LABELS.includes(k)));
    assert.equal(podSpecHash({ ...pod, metadata: { ...pod.metadata, labels: older, annotations } }), hash);
  });

  it("sets no version label for a tag that is no label value, and keeps a template's part-of", () => {
    const long = `8.43.4-${"x".repeat(60)}`;
    for (const image of ["rqlite/rqlite:8.43.4_", `rqlite/rqlite:${long}`, `rqlite/rqlite@sha256:${"a".repeat(64)}`]) {
      const pod = renderPod(view({ image }), { member: voter, bootstrapExpect: 3, addressing: dns });
      assert.equal(pod.metadata!.labels!["app.kubernetes.io/version"], undefined, image);
    }
    const template = { metadata: { labels: { "app.kubernetes.io/part-of": "shop" } } };
    const pod = renderPod(view(), { member: voter, bootstrapExpect: 3, addressing: dns, template });
    assert.equal(pod.metadata!.labels!["app.kubernetes.io/part-of"], "shop");
  });

  it("keeps a live Pod's version label that of the image it runs, mid-roll too", () => {
    const c = view({ image: "rqlite/rqlite:8.43.4" });
    const rendered = renderPod(c, { member: voter, bootstrapExpect: 3, addressing: dns });
    const live = structuredClone(rendered);
    live.spec!.containers[0]!.image = "rqlite/rqlite:8.36.0";
    live.metadata!.labels!["app.kubernetes.io/version"] = "8.36.0";
    const facts = { rendered: new Map([["demo-1", rendered]]) };
    const observed = { cluster: c, pods: [live] };
    type Args = Parameters<typeof planPodMetadata>;
    assert.deepEqual(planPodMetadata(observed as unknown as Args[0], facts as unknown as Args[1]), []);
    delete live.metadata!.labels!["app.kubernetes.io/component"];
    const [apply] = planPodMetadata(observed as unknown as Args[0], facts as unknown as Args[1]);
    assert.equal(apply?.type, "apply");
    const labels = (apply as unknown as { object: { metadata: { labels: Record<string, string> } } }).object.metadata
      .labels;
    assert.equal(labels["app.kubernetes.io/component"], "database");
    assert.equal(labels["app.kubernetes.io/version"], "8.36.0");
  });
});

describe("render: services, PVC, PDB", () => {
  it("makes a headless Service that publishes unready nodes and a client Service", () => {
    const h = renderHeadlessService(view());
    assert.equal(h.spec!.clusterIP, "None");
    assert.equal(h.spec!.publishNotReadyAddresses, true);
    assert.deepEqual(
      h.spec!.ports!.map((p) => [p.name, p.port]),
      [
        ["http", 4001],
        ["raft", 4002],
      ],
    );
    const s = renderClientService(view());
    assert.deepEqual(
      s.spec!.ports!.map((p) => p.port),
      [4001],
    );
    assert.equal(s.spec!.type, "ClusterIP");
  });

  it("selects children by the selector labels only, never by a descriptive one", () => {
    const c = view({ readReplicas: 2 });
    const selectors = [
      renderHeadlessService(c).spec!.selector!,
      renderClientService(c).spec!.selector!,
      renderReadService(c).spec!.selector!,
      renderPdb(c, 3)!.spec!.selector!.matchLabels!,
      renderNetworkPolicy(c, "ops")!.spec!.podSelector!.matchLabels!,
    ];
    for (const selector of selectors)
      for (const k of DESCRIPTIVE_LABELS) assert.equal(selector[k], undefined, `${k} in ${JSON.stringify(selector)}`);
    for (const svc of [renderHeadlessService(c), renderClientService(c), renderReadService(c)])
      assert.equal(svc.metadata!.labels!["app.kubernetes.io/version"], "8.43.4");
  });

  it("spreads the read Service over the read replicas, or over every node when there are none", () => {
    assert.deepEqual(renderReadService(view({ readReplicas: 2 })).spec!.selector, {
      ...selectorLabels("demo"),
      "rqlite.io/role": "read-only",
    });
    assert.deepEqual(renderReadService(view()).spec!.selector, selectorLabels("demo"));
    assert.equal(renderReadService(view()).metadata!.name, "demo-ro");
  });

  it("shapes the client and read Services from spec.service and spec.readService", () => {
    const c = view({
      service: {
        type: "LoadBalancer",
        annotations: { "networking.gke.io/load-balancer-type": "Internal" },
        labels: { team: "db", "app.kubernetes.io/name": "not-rqlite" },
        loadBalancerSourceRanges: [" 10.0.0.0/8", "fd00::/8"],
        externalTrafficPolicy: "Local",
      },
      readService: { type: "NodePort" },
    });
    const s = renderClientService(c);
    assert.equal(s.spec!.type, "LoadBalancer");
    assert.deepEqual(s.spec!.loadBalancerSourceRanges, ["10.0.0.0/8", "fd00::/8"]);
    assert.equal(s.spec!.externalTrafficPolicy, "Local");
    assert.deepEqual(s.metadata!.annotations, { "networking.gke.io/load-balancer-type": "Internal" });
    assert.equal(s.metadata!.labels!.team, "db");
    assert.equal(s.metadata!.labels!["app.kubernetes.io/name"], "rqlite", "the operator's labels win");
    const r = renderReadService(c);
    assert.equal(r.spec!.type, "NodePort");
    assert.equal(r.spec!.externalTrafficPolicy, undefined);
    assert.equal(r.metadata!.annotations, undefined);
  });

  it("sizes the PVC from storage and leaves the class to the cluster default", () => {
    const pvc = renderPvc(view(), { name: "demo-0", ordinal: 0, role: "voter" }, 3);
    assert.equal(pvc.spec!.resources!.requests!.storage, "1Gi");
    assert.equal("storageClassName" in pvc.spec!, false);
  });

  it("omits the PDB when maxUnavailable is 0", () => {
    assert.equal(renderPdb(view({ podDisruptionBudget: { maxUnavailable: 0 } }), 3), undefined);
  });

  it("keeps a drain within what the Raft configuration can lose, also mid scale-down", () => {
    // 3 voters, maxUnavailable 1: two must stay. During 5→3, all five still count.
    assert.equal(renderPdb(view(), 3)!.spec!.minAvailable, 2);
    assert.equal(renderPdb(view(), 5)!.spec!.minAvailable, 4);
    assert.equal(
      renderPdb(view({ podDisruptionBudget: { maxUnavailable: 4 } }), 5)!.spec!.minAvailable,
      3,
      "never below quorum",
    );
    assert.equal(renderPdb(view(), 3)!.spec!.maxUnavailable, undefined);
  });

  it("gives PVCs an owner reference only when reclaimPolicy is Delete", () => {
    const member = { name: "demo-0", ordinal: 0, role: "voter" as const };
    assert.deepEqual(renderPvc(view(), member, 3).metadata!.ownerReferences, []);
    const deleting = renderPvc(
      view({ storage: { size: "1Gi", scaleDownPolicy: "Delete", reclaimPolicy: "Delete" } }),
      member,
      3,
    );
    assert.equal(deleting.metadata!.ownerReferences!.length, 1);
  });
});

describe("drift", () => {
  it("ignores fields the server adds and catches changed ones", () => {
    assert.ok(isSubset({ a: 1, b: { c: [1, { d: 2 }] } }, { a: 1, x: 9, b: { c: [1, { d: 2, e: 3 }] } }));
    assert.equal(isSubset({ a: [1, 2] }, { a: [1, 2, 3] }), false);
    assert.ok(isSubset({ spec: { a: 1 } }, { spec: { a: 1, z: 2 } }));
    assert.equal(isSubset({ spec: { a: 1 } }, { spec: { a: 2 } }), false);
  });

  it("removes extra keys of maps that must match exactly, and only those", () => {
    const exact = [["spec", "selector"]];
    const patch = extraKeysPatch(
      { spec: { selector: { app: "x" } } },
      { spec: { selector: { app: "x", extra: "y" } } },
      exact,
    );
    assert.deepEqual(patch, { spec: { selector: { extra: null } } });
    assert.equal(
      extraKeysPatch({ spec: { selector: { app: "x" } } }, { spec: { selector: { app: "y" } } }, exact),
      undefined,
    );
  });
});

describe("render: template merge", () => {
  it("merges name-keyed lists item by item and keeps generated items the template leaves out", () => {
    const base = { spec: { containers: [{ name: "rqlite", image: "a", env: [{ name: "X", value: "1" }] }] } };
    const merged = mergeTemplate(base, {
      spec: {
        containers: [
          { name: "sidecar", image: "b" },
          { name: "rqlite", env: [{ name: "Y", value: "2" }] },
        ],
      },
    });
    assert.deepEqual(merged, {
      spec: {
        containers: [
          {
            name: "rqlite",
            image: "a",
            env: [
              { name: "X", value: "1" },
              { name: "Y", value: "2" },
            ],
          },
          { name: "sidecar", image: "b" },
        ],
      },
    });
  });

  it("deletes with null and replaces unnamed lists, as RFC 7396 does", () => {
    assert.deepEqual(mergeTemplate({ a: 1, b: { c: 2 }, l: [1, 2] }, { a: null, b: { d: 3 }, l: [3] }), {
      b: { c: 2, d: 3 },
      l: [3],
    });
  });

  it("never lets a __proto__ key change prototypes", () => {
    const merged = mergeTemplate({}, JSON.parse('{"__proto__": {"polluted": true}}')) as Record<string, unknown>;
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(merged), Object.prototype);
  });

  it("keeps the rqlite container when a template only adds a sidecar", () => {
    const pod = renderPod(view(), {
      member: { name: "demo-0", ordinal: 0, role: "voter" },
      bootstrapExpect: 3,
      addressing: dns,
      template: { spec: { containers: [{ name: "sidecar", image: "busybox" }] } },
    });
    assert.deepEqual(
      pod.spec!.containers.map((c) => c.name),
      ["rqlite", "sidecar"],
    );
  });
});
