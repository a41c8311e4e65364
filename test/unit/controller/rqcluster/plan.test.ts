// Table tests of the pure planner, one block per concern. Each row is an observed state and the
// decision it must produce; the randomised model test (plan.model.test.ts) covers the space.
import { strict as assert } from "node:assert";
import type { V1PersistentVolumeClaim, V1Pod, V1PodDisruptionBudget, V1Secret } from "@kubernetes/client-node";
import {
  deriveFacts,
  HOLDS,
  plan,
  planFinalize,
  PROBLEMS,
  withReadings,
} from "../../../../controller/rqcluster/plan/index.js";
import type { Action, Observed, RaftMember } from "../../../../controller/rqcluster/plan/types.js";
import { clusterView } from "../../../../controller/rqcluster/render/cluster.js";
import { desiredMembers } from "../../../../controller/rqcluster/render/members.js";
import { renderPod } from "../../../../controller/rqcluster/render/pod.js";
import { renderPvc } from "../../../../controller/rqcluster/render/children.js";
import { computeStatus, statusPatch } from "../../../../controller/rqcluster/status.js";
import { caCopyOf, keptCas } from "../../../../controller/access/caCopy.js";
import { assertOwnNode, nodeAccess } from "../../../../controller/access/cluster.js";
import type { RecoveryStatus, RqBackup, RqClusterSpec } from "../../../../shared/index.js";
import {
  newestVerifiedBackup,
  type RecoveryObservation,
  type VoterEvidence,
} from "../../../../controller/rqcluster/plan/recovery.js";
import { loopbackAddress } from "../../../../shared/loopback-address.js";
import { recoveryRestore } from "../../../../controller/rqcluster/recovery.js";

const addressing = { kind: "static" as const, addressOf: loopbackAddress };
const NOW = Date.parse("2026-11-30T12:00:00Z");

interface World {
  spec?: RqClusterSpec;
  /** Spec the existing Pods were rendered from (defaults to `spec`). */
  podSpec?: RqClusterSpec;
  pods?: string[];
  notReady?: string[];
  /** Their rqlite container crash-loops (restarted, not running); they are not Ready either. */
  crashLooping?: string[];
  terminating?: string[];
  unsynced?: string[];
  leader?: string;
  members?: string[];
  unreachable?: string[];
  canTransfer?: boolean;
  noRaft?: boolean;
  nodeOf?: Record<string, string>;
  lostSince?: Record<string, number>;
}

function observed(w: World): Observed {
  const spec = w.spec ?? { replicas: 3, image: "rqlite/rqlite:8.43.4" };
  const meta = { name: "db", namespace: "ns", uid: "uid-1" };
  const c = clusterView({ apiVersion: "rqlite.io/v1alpha1", kind: "RqCluster", metadata: meta, spec });
  const old = clusterView({
    apiVersion: "rqlite.io/v1alpha1",
    kind: "RqCluster",
    metadata: meta,
    spec: w.podSpec ?? spec,
  });
  const names = w.pods ?? desiredMembers("db", c.spec.replicas, c.spec.readReplicas).map((m) => m.name);
  const all = desiredMembers("db", 9, 3);
  const pods: V1Pod[] = names.map((name) => {
    const member = all.find((m) => m.name === name)!;
    const pod = renderPod(old, { member, bootstrapExpect: 3, addressing });
    const ready = !w.notReady?.includes(name);
    pod.metadata!.deletionTimestamp = w.terminating?.includes(name) ? new Date(NOW) : undefined;
    pod.spec!.nodeName = w.nodeOf?.[name] ?? `node-${name}`;
    pod.status = { podIP: "127.0.0.1", conditions: [{ type: "Ready", status: ready ? "True" : "False" }] };
    if (w.crashLooping?.includes(name)) {
      const state = { waiting: { reason: "CrashLoopBackOff" } };
      pod.status.containerStatuses = [{ name: "rqlite", image: "", imageID: "", ready: false, restartCount: 4, state }];
    }
    return pod;
  });
  const pvcs: V1PersistentVolumeClaim[] = names.map((name) =>
    renderPvc(
      old,
      all.find((m) => m.name === name)!,
      3,
    ),
  );
  const memberIds = w.members ?? names;
  const members: RaftMember[] = memberIds.map((id) => ({
    id,
    voter: !id.includes("-ro-"),
    reachable: !w.unreachable?.includes(id),
  }));
  return {
    cluster: c,
    addressing,
    operatorNamespace: "rqlite-operator-system",
    networkPolicies: [],
    pods,
    pvcs,
    services: [],
    pdbs: [],
    conflicts: [],
    ...(w.noRaft
      ? { rqliteProblem: "db-0: connect ECONNREFUSED" }
      : { raft: { leader: w.leader ?? "db-0", members, canTransfer: w.canTransfer ?? true } }),
    synced: new Set(names.filter((n) => !w.unsynced?.includes(n) && !w.notReady?.includes(n))),
    unreachableSince: new Map(Object.entries(w.lostSince ?? {})),
    nodeFailureTimeoutMs: 300_000,
    now: NOW,
  };
}

/** The disruptive decisions only, as short strings: "delete db-2", "remove db-4", "transfer db-0->db-1". */
function decisions(actions: Action[]): string[] {
  return actions.flatMap((a) => {
    if (a.type === "deletePod") return [`${a.force ? "force-delete" : "delete"} ${a.name}`];
    if (a.type === "removeFromRaft") return [`remove ${a.node}`];
    if (a.type === "transferLeadership") return [`transfer ${a.from}->${a.to}`];
    if (a.type === "create" && a.object.kind === "Pod") return [`create ${a.object.metadata!.name}`];
    return [];
  });
}

const decide = (w: World) => decisions(plan(observed(w)).actions);
const waits = (w: World) => plan(observed(w)).waits.map((x) => x.reason);
const NEW = { replicas: 3, image: "rqlite/rqlite:8.43.4" };
const OLD = { replicas: 3, image: "rqlite/rqlite:8.36.0" };

describe("plan: rollout", () => {
  const rows: Array<[string, World, string[]]> = [
    ["followers first, highest ordinal first", { spec: NEW, podSpec: OLD }, ["delete db-2"]],
    [
      "waits while a rolled Pod is missing (the bug: the cache showed two Ready Pods)",
      { spec: NEW, podSpec: OLD, pods: ["db-0", "db-1"], members: ["db-0", "db-1", "db-2"] },
      ["create db-2"],
    ],
    ["waits while a Pod is terminating", { spec: NEW, podSpec: OLD, terminating: ["db-2"] }, []],
    ["waits while a node has not caught up", { spec: NEW, podSpec: OLD, unsynced: ["db-1"] }, []],
    ["waits while a voter is unreachable from the leader", { spec: NEW, podSpec: OLD, unreachable: ["db-1"] }, []],
    [
      "the leader last, after leadership moved",
      { spec: NEW, podSpec: OLD, pods: ["db-0", "db-1", "db-2"], leader: "db-2" },
      ["delete db-1"],
    ],
    ["does nothing with OnDelete", { spec: { ...NEW, updateStrategy: { type: "OnDelete" } }, podSpec: OLD }, []],
  ];
  for (const [what, w, want] of rows) it(what, () => assert.deepEqual(decide(w), want));

  it("moves leadership off the leader before its Pod goes (I4)", () => {
    const o = observed({ spec: NEW, podSpec: OLD, leader: "db-0" });
    // Only the leader is left outdated: the followers run the new spec.
    const fresh = observed({ spec: NEW });
    o.pods = [o.pods[0]!, ...fresh.pods.slice(1)];
    assert.deepEqual(decisions(plan(o).actions), ["transfer db-0->db-1"]);
    o.raft!.canTransfer = false;
    assert.deepEqual(decisions(plan(o).actions), ["delete db-0"], "older rqlite: it steps down as it stops");
  });

  it("never rolls while a scale-down is in flight (I5)", () => {
    const w = { spec: NEW, podSpec: { ...OLD, replicas: 5 }, pods: ["db-0", "db-1", "db-2", "db-3", "db-4"] };
    assert.deepEqual(decide(w), ["remove db-4"]);
    assert.deepEqual(decide({ ...w, members: ["db-0", "db-1", "db-2", "db-3"] }), ["delete db-4"]);
  });

  it("evicts a roll step (voluntary, the PDB serializes it with a drain); other Pod deletions are plain", () => {
    const evicts = (w: World) =>
      plan(observed(w)).actions.flatMap((a) => (a.type === "deletePod" ? [`${a.name}:${a.evict === true}`] : []));
    assert.deepEqual(evicts({ spec: NEW, podSpec: OLD }), ["db-2:true"], "roll step");
    const o = observed({ spec: NEW, podSpec: OLD, leader: "db-0", canTransfer: false });
    o.pods = [o.pods[0]!, ...observed({ spec: NEW }).pods.slice(1)];
    assert.deepEqual(
      plan(o).actions.flatMap((a) => (a.type === "deletePod" ? [a.evict] : [])),
      [true],
      "the leader's roll step",
    );
    const pods = ["db-0", "db-1", "db-2", "db-3", "db-4"];
    assert.deepEqual(evicts({ spec: NEW, pods, members: pods.slice(0, 4) }), ["db-4:false"], "scale-down: no member");
    const lost = { nodeOf: { "db-2": "k1" }, lostSince: { k1: NOW - 600_000 } };
    assert.deepEqual(
      evicts({ ...lost, notReady: ["db-2"], members: ["db-0", "db-1"] }),
      ["db-2:false"],
      "lost node: forced",
    );
  });
});

describe("plan: scale", () => {
  it("creates the founding voters together", () => {
    assert.deepEqual(decide({ pods: [], members: [] }), ["create db-0", "create db-1", "create db-2"]);
  });

  it("adds later voters one at a time, each once everything is Ready", () => {
    const spec = { ...NEW, replicas: 5 };
    assert.deepEqual(decide({ spec, pods: ["db-0", "db-1", "db-2"] }), ["create db-3"]);
    assert.deepEqual(decide({ spec, pods: ["db-0", "db-1", "db-2", "db-3"], notReady: ["db-3"] }), []);
  });

  it("removes the highest ordinal from Raft first, then deletes its Pod (I3)", () => {
    const pods = ["db-0", "db-1", "db-2", "db-3", "db-4"];
    assert.deepEqual(decide({ spec: NEW, pods }), ["remove db-4"]);
    assert.deepEqual(decide({ spec: NEW, pods, members: pods.slice(0, 4) }), ["delete db-4"]);
  });

  it("moves leadership off a leaving leader first, or removes it through itself on older rqlite", () => {
    const pods = ["db-0", "db-1", "db-2", "db-3"];
    assert.deepEqual(decide({ spec: NEW, pods, leader: "db-3" }), ["transfer db-3->db-0"]);
    assert.deepEqual(decide({ spec: NEW, pods, leader: "db-3", canTransfer: false }), ["remove db-3"]);
  });

  it("never removes a voter below the quorum of the smaller configuration (I2)", () => {
    const pods = ["db-0", "db-1", "db-2", "db-3"];
    const w = { spec: { ...NEW, replicas: 3 }, pods, notReady: ["db-3"], unreachable: ["db-1", "db-2"] };
    assert.deepEqual(decide(w), []);
  });

  it("waits without a leader, saying why", () => {
    const w = { spec: NEW, pods: ["db-0", "db-1", "db-2", "db-3"], noRaft: true };
    assert.deepEqual(decide(w), []);
    assert.ok(waits(w).includes("WaitingForLeader"));
  });

  it("holds new nodes back while a roll to rqlite 10 is unfinished, and rolls meanwhile", () => {
    const V9 = { replicas: 3, image: "rqlite/rqlite:9.4.5" };
    const V10 = { replicas: 5, image: "rqlite/rqlite:10.2.7" };
    const w = { spec: V10, podSpec: V9, pods: ["db-0", "db-1", "db-2"] };
    // rqlite 10 nodes join no 9.x cluster (CHANGELOG v10.0.0): the roll goes first.
    assert.deepEqual(decide(w), ["delete db-2"]);
    const o = plan(observed(w));
    assert.deepEqual(
      o.waits.map((x) => `${x.reason}: ${x.message}`),
      [
        "ScaleUpHeldForUpgrade: not adding db-3, db-4 until every node runs rqlite/rqlite:10.2.7: a new rqlite 10.2.7 node cannot join a cluster with members on 9.4.5 (rqlite 10.x nodes join only clusters already on 10.x)",
      ],
    );
    // One node left on 9.x still holds them.
    const mixed = observed({ spec: V10, pods: ["db-0", "db-1", "db-2"] });
    mixed.pods[0]!.spec!.containers[0]!.image = V9.image;
    assert.ok(plan(mixed).waits.some((x) => x.reason === "ScaleUpHeldForUpgrade"));
    // Once every node runs 10.x they join, one at a time as always.
    assert.deepEqual(decide({ spec: V10, pods: ["db-0", "db-1", "db-2"] }), ["create db-3"]);
    // Within a major nothing is held.
    assert.deepEqual(
      decide({
        spec: { ...V9, replicas: 5 },
        podSpec: { ...V9, image: "rqlite/rqlite:9.0.0" },
        pods: ["db-0", "db-1", "db-2"],
      }),
      ["create db-3"],
    );
  });

  it("looks again soon while Ready Pods know no leader (an election), not at the next resync", () => {
    assert.equal(plan(observed({ noRaft: true })).requeueAfterMs, 2000);
    const down = { noRaft: true, notReady: ["db-0", "db-1", "db-2"] };
    assert.equal(plan(observed(down)).requeueAfterMs, undefined, "Pods becoming Ready bring their own events");
    const unaddressed = observed({ noRaft: true });
    for (const p of unaddressed.pods) delete p.status!.podIP;
    assert.equal(
      plan(unaddressed).requeueAfterMs,
      undefined,
      "Pods that were not asked bring an event with their address",
    );
  });
});

describe("plan: holds (a refused pod template, a Secret owned by another)", () => {
  it("holds every Pod change, says why, and reads the template again later", () => {
    const o = observed({ spec: { ...NEW, replicas: 5 }, podSpec: OLD, pods: ["db-0", "db-1", "db-2"] });
    o.holds = [
      { reason: "PodTemplateRefused", message: "ConfigMap ns/t has no rqlite.io/pod-template label", warning: true },
    ];
    const p = plan(o);
    const kinds = p.actions.map((a) =>
      a.type === "create" ? `create ${a.object.kind}` : "target" in a ? `${a.type} ${a.target.kind}` : a.type,
    );
    assert.ok(
      kinds.every((k) => /^(create|patch) (Service|PodDisruptionBudget|Secret|NetworkPolicy)$/.test(k)),
      `only Services, the PDB, the NetworkPolicy and the auth Secret: ${kinds.join(", ")}`,
    );
    assert.deepEqual(
      p.waits.map((w) => w.reason),
      ["PodTemplateRefused"],
    );
    assert.equal(p.requeueAfterMs, 30_000);
  });
});

describe("plan: lost nodes and partitions (I6)", () => {
  const lost = { nodeOf: { "db-2": "k1" }, lostSince: { k1: NOW - 600_000 } };

  it("replaces a node only when the leader cannot reach it either", () => {
    assert.deepEqual(decide({ ...lost, unreachable: ["db-2"], notReady: ["db-2"] }), ["remove db-2"]);
    const gone = { ...lost, notReady: ["db-2"], members: ["db-0", "db-1"] };
    assert.deepEqual(decide(gone), ["force-delete db-2"]);
    assert.ok(
      plan(observed(gone)).actions.some((a) => a.type === "delete" && a.target.name === "db-2"),
      "its PVC too",
    );
  });

  it("leaves a healthy rqlite node on a partitioned Kubernetes node alone, with a Warning", () => {
    assert.deepEqual(decide(lost), []);
    assert.deepEqual(waits(lost), ["NodePartitioned"]);
  });

  it("looks again when the timeout expires, not at the next resync", () => {
    const p = plan(observed({ nodeOf: { "db-2": "k1" }, lostSince: { k1: NOW - 240_000 } }));
    assert.equal(p.requeueAfterMs, 60_001);
  });
});

describe("plan: ghost members (I7)", () => {
  it("removes a member that has no Pod and is not desired, with the quorum check", () => {
    assert.deepEqual(decide({ members: ["db-0", "db-1", "db-2", "db-7"], unreachable: ["db-7"] }), ["remove db-7"]);
    const atRisk = { members: ["db-0", "db-1", "db-2", "db-7"], unreachable: ["db-7", "db-1", "db-2"] };
    assert.deepEqual(decide(atRisk), []);
  });
});

describe("plan: bootstrap-expect (I8)", () => {
  it("keeps the cluster's first -bootstrap-expect from the PVCs when every Pod is gone", () => {
    // Created with 3 voters, scaled to 5; then every Pod went at once.
    const o = observed({ spec: { ...NEW, replicas: 5 }, pods: [], members: [] });
    o.pvcs = ["db-0", "db-1", "db-2", "db-3", "db-4"].map((name, ordinal) =>
      renderPvc(o.cluster, { name, ordinal, role: "voter" }, 3),
    );
    const pods = plan(o).actions.flatMap((a) => (a.type === "create" && a.object.kind === "Pod" ? [a.object] : []));
    assert.ok(pods.length > 0);
    for (const p of pods) assert.equal(p.metadata!.annotations!["rqlite.io/bootstrap-expect"], "3");
  });
});

describe("plan: finalize and storage", () => {
  it("keeps Retained PVCs without owner references and deletes the others", () => {
    const o = observed({});
    o.pvcs[0]!.metadata!.ownerReferences = [o.cluster.ownerReference];
    assert.deepEqual(
      planFinalize(o).map((a) => a.type),
      ["patch"],
    );
    const d = observed({ spec: { ...NEW, storage: { reclaimPolicy: "Delete" } } });
    assert.deepEqual(
      planFinalize(d).map((a) => a.type),
      ["delete", "delete", "delete"],
    );
  });

  it("grows PVCs and restores their owner references per reclaimPolicy", () => {
    const o = observed({ spec: { ...NEW, storage: { size: "2Gi" } }, podSpec: NEW });
    const grown = plan(o).actions.flatMap((a) =>
      a.type === "apply" && a.object.kind === "PersistentVolumeClaim"
        ? [(a.object as V1PersistentVolumeClaim).spec!.resources!.requests!.storage]
        : [],
    );
    assert.deepEqual(grown, ["2Gi", "2Gi", "2Gi"]);
    // A refused size is not asked again, and the live size is never shrunk.
    o.refusedGrowth = new Map(["db-0", "db-1", "db-2"].map((n) => [n, { size: "2Gi", message: "no" }]));
    assert.deepEqual(
      plan(o).actions.filter((a) => a.type === "apply"),
      [],
    );
  });

  it("changes nothing when paused", () => {
    assert.deepEqual(plan(observed({ spec: { ...NEW, paused: true }, podSpec: OLD })).actions, []);
  });
});

describe("status", () => {
  it("keeps the membership the last leader reported while no leader answers", () => {
    const o = observed({ noRaft: true, pods: ["db-0", "db-1"] });
    const previous = {
      members: ["db-0", "db-1", "db-2"].map((id) => ({ id, voter: true, ready: true, address: `${id}:4001` })),
    };
    const status = computeStatus(
      o.cluster,
      { observed: o, facts: deriveFacts(o), wasAvailable: true, problems: [] },
      previous,
      new Date(NOW),
    );
    assert.deepEqual(
      status.members!.map((m) => [m.id, m.ready]),
      [
        ["db-0", true],
        ["db-1", true],
        ["db-2", false],
      ],
    );
    assert.equal(status.leader, undefined);
    assert.match(status.conditions!.find((c) => c.type === "Available")!.message, /ECONNREFUSED/);
  });
});

describe("status: Ready and the version", () => {
  const statusOf = (o: Observed, problems: Array<{ reason: string; message: string }> = []) =>
    computeStatus(
      o.cluster,
      { observed: o, facts: deriveFacts(o), wasAvailable: true, problems },
      undefined,
      new Date(NOW),
    );
  const ready = (o: Observed, problems?: Array<{ reason: string; message: string }>) =>
    statusOf(o, problems).conditions!.find((c) => c.type === "Ready")!;

  it("is Ready only when Available and converged, and names why not otherwise", () => {
    const steady = observed({ spec: NEW });
    assert.equal(ready(steady).status, "True");
    assert.equal(statusOf(steady).version, "8.43.4");
    const rolling = observed({ spec: NEW, podSpec: OLD });
    assert.deepEqual([ready(rolling).status, ready(rolling).reason], ["False", "Upgrading"]);
    assert.equal(statusOf(rolling).currentImage, "rqlite/rqlite:8.36.0");
    const scaling = observed({ spec: NEW, pods: ["db-0", "db-1"] });
    assert.deepEqual([ready(scaling).status, ready(scaling).reason], ["False", "Scaling"]);
    const blocked = ready(steady, [{ reason: "NameConflict", message: "Pod db-0 has another owner" }]);
    assert.deepEqual([blocked.status, blocked.reason], ["False", "NameConflict"]);
    const paused = observed({ spec: { ...NEW, paused: true } });
    assert.deepEqual([ready(paused).status, ready(paused).reason], ["False", "Paused"]);
    const leaderless = observed({ spec: NEW, noRaft: true, pods: [] });
    assert.equal(ready(leaderless).status, "False");
  });
});

describe("status: Secrets the spec names", () => {
  const statusOf = (o: Observed) =>
    computeStatus(
      o.cluster,
      { observed: o, facts: deriveFacts(o), wasAvailable: true, problems: [] },
      undefined,
      new Date(NOW),
    );
  const secrets = (o: Observed) => statusOf(o).conditions!.find((c) => c.type === "SecretsReady");

  it("names each unusable Secret and key in SecretsReady, and leaves the other conditions to the cluster", () => {
    const o = observed({});
    assert.equal(secrets(o), undefined, "no Secret named, no condition");
    const withTls = observed({ spec: { ...NEW, tls: { http: { secretName: "web-tls" } } } });
    assert.equal(secrets(withTls)?.status, "True");
    withTls.secretProblems = [
      { reason: "TLSCAUnavailable", message: "Secret ns/web-tls (spec.tls.http.secretName) does not exist; ..." },
      { reason: "BackupCredentialsMissing", message: "Secret ns/s3 (spec.backup.s3.credentialsSecret) has no key id" },
    ];
    const cond = secrets(withTls)!;
    assert.equal(cond.status, "False");
    assert.equal(cond.reason, "TLSCAUnavailable");
    assert.match(cond.message, /Secret ns\/web-tls .* does not exist.*; Secret ns\/s3 .* has no key id/);
    assert.equal(statusOf(withTls).conditions!.find((c) => c.type === "Available")!.status, "True");
  });

  it("does not hold Pod changes for them: a missing voter is still recreated", () => {
    const o = observed({ pods: ["db-0", "db-1"] });
    o.secretProblems = [{ reason: "BackupCredentialsMissing", message: "Secret ns/s3 does not exist" }];
    const created = plan(o).actions.filter((a) => a.type === "create" && a.object.kind === "Pod");
    assert.deepEqual(
      created.map((a) => (a.type === "create" ? a.object.metadata!.name : "")),
      ["db-2"],
    );
  });
});

describe("the operator's copy of the tls.http CA (outlives a restart)", () => {
  const c = observed({ spec: { ...NEW, tls: { http: { secretName: "web-tls" } } } }).cluster;
  const own = (data: Record<string, string>) => ({ data, labels: {}, owners: [c.uid] });
  const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

  it("is created with the CA in use, owned by the cluster, and then kept in step", () => {
    const first = caCopyOf(c, new Map([["web-tls", pem]]), undefined)!;
    const o = { ...observed({}), caCopy: first };
    const [create] = plan(o).actions.filter((a) => a.type === "create" && a.object.kind === "Secret");
    assert.ok(create?.type === "create");
    const secret = create.object as V1Secret;
    assert.equal(secret.metadata!.name, "db-operator-ca");
    assert.deepEqual(secret.metadata!.ownerReferences, [c.ownerReference]);
    assert.equal(Buffer.from(secret.data!["web-tls"]!, "base64").toString(), pem);
    // Current: nothing to write. A CA no Pod uses any more is dropped from it.
    assert.equal(caCopyOf(c, new Map([["web-tls", pem]]), own({ "web-tls": pem }))!.current, true);
    const rotated = caCopyOf(c, new Map([["new-tls", pem]]), own({ "web-tls": pem }))!;
    const [patch] = plan({ ...observed({}), caCopy: rotated }).actions.filter((a) => a.type === "patch");
    assert.deepEqual(patch?.type === "patch" && patch.patch, {
      data: { "web-tls": null, "new-tls": Buffer.from(pem).toString("base64") },
    });
  });

  it("is trusted only when this cluster owns it; a Secret of that name made by another is left alone", () => {
    assert.deepEqual([...keptCas(c, own({ "web-tls": pem }))], [["web-tls", pem]]);
    const planted = { data: { "web-tls": pem }, labels: {}, owners: ["someone-else"] };
    assert.equal(keptCas(c, planted).size, 0);
    assert.equal(caCopyOf(c, new Map([["web-tls", pem]]), planted), undefined);
  });
});

describe("status patch", () => {
  it("clears keys that no longer hold and sends nothing when unchanged", () => {
    const before = { phase: "Running" as const, leader: "db-0", currentImage: "x" };
    assert.deepEqual(statusPatch(before, { phase: "Running" }), { phase: "Running", leader: null, currentImage: null });
    assert.equal(statusPatch(before, { ...before }), undefined);
  });

  it("clears nested keys too, so a dropped status.backup.uploader does not linger", () => {
    const before = {
      phase: "Running" as const,
      backup: {
        lastSuccessfulTime: "2026-01-01T00:00:00Z",
        uploader: { node: "db-0", ok: 3, fail: 0 },
        retainedObjects: 4,
      },
    };
    const next = { phase: "Running" as const, backup: { lastSuccessfulTime: "2026-01-01T00:00:00Z" } };
    assert.deepEqual(statusPatch(before, next), {
      phase: "Running",
      backup: { lastSuccessfulTime: "2026-01-01T00:00:00Z", uploader: null, retainedObjects: null },
    });
    assert.equal(statusPatch(next, { ...next, backup: { ...next.backup } }), undefined);
  });
});

describe("plan: reaching nodes through TLS and auth transitions", () => {
  const o = observed({});
  const pod = o.pods[0]!;
  const rqlite = pod.spec!.containers[0]!;
  const creds = { username: "rqlite-operator", password: "p" };
  const cas = new Map([["web-tls", "CA"]]);
  const withArgs = (args: string[], volumes = pod.spec!.volumes) => ({
    ...pod,
    spec: { ...pod.spec!, volumes, containers: [{ ...rqlite, args: [...(rqlite.args ?? []), ...args] }] },
  });

  it("speaks to each node the way its Pod runs now, not the way the spec asks", () => {
    const plain = nodeAccess(o.cluster, pod, "a:4001", cas, creds);
    assert.deepEqual(plain, { address: "a:4001", https: false }, "spec or not, a plain Pod gets plain HTTP");
    const tls = withArgs(["-http-cert=/x", "-auth=/y"], [{ name: "tls-http", secret: { secretName: "web-tls" } }]);
    assert.deepEqual(nodeAccess(o.cluster, tls, "a:4001", cas, creds), {
      address: "a:4001",
      https: true,
      ca: "CA",
      credentials: creds,
    });
  });

  it("turns only the cluster's own node names into addresses, whatever rqlite's answers name", () => {
    const c = observed({}).cluster;
    for (const id of ["db-0", "db-4", "db-ro-1"]) assert.doesNotThrow(() => assertOwnNode(c, id));
    for (const id of ["other-0", "db-0.evil.example", "db", "db-01", "10.0.0.1:4001"])
      assert.throws(() => assertOwnNode(c, id), /is not a node of RqCluster ns\/db; not contacting it/);
  });

  it("falls back to the spec for a node that has no Pod", () => {
    const spec = { ...NEW, tls: { http: { secretName: "web-tls" } } };
    const c = observed({ spec }).cluster;
    assert.equal(nodeAccess(c, undefined, "a:4001", cas, undefined).https, true);
  });

  it("never rolls a Ready Pod without the leader's view of the Raft configuration, and says why", () => {
    const w = observed({ spec: NEW, podSpec: OLD, noRaft: true });
    const p = plan(w);
    assert.deepEqual(decisions(p.actions), []);
    const why = p.waits.find((x) => x.reason === "WaitingToRoll");
    assert.match(
      why?.message ?? "",
      /waits for the leader's view of the Raft configuration: db-0: connect ECONNREFUSED/,
    );
  });

  it("replaces no outdated voter of 3 while none is Ready (an election after the leader died)", () => {
    const electing = observed({ spec: NEW, podSpec: OLD, noRaft: true, notReady: ["db-0", "db-1", "db-2"] });
    assert.deepEqual(
      plan(electing).actions.filter((a) => a.type === "deletePod"),
      [],
    );
  });

  it("rolls by readiness alone when every node refuses the operator's credentials (its auth Secret made anew)", () => {
    const w: Observed = { ...observed({ spec: NEW, podSpec: OLD, noRaft: true }), rqliteUnauthorized: true };
    const p = plan(w);
    const deleted = p.actions.filter((a) => a.type === "deletePod");
    assert.equal(deleted.length, 1, "one step at a time");
    // Not Ready Pods would hold it: the roll stays gated on every desired Pod being Ready.
    const notReady = observed({ spec: NEW, podSpec: OLD, noRaft: true, notReady: ["db-1"] });
    assert.deepEqual(
      plan({ ...notReady, rqliteUnauthorized: true }).actions.filter(
        (a) => a.type === "deletePod" && a.name !== "db-1",
      ),
      [],
    );
  });
});

describe("plan: every change finishes (small clusters, a user's budget, rollback, version steps)", () => {
  const deletes = (o: Observed) =>
    plan(o).actions.flatMap((a) => (a.type === "deletePod" ? [{ name: a.name, evict: a.evict === true, a }] : []));
  const pdbOf = (o: Observed) => {
    const a = plan(o).actions.find((x) => x.type === "create" && x.object.kind === "PodDisruptionBudget");
    return a?.type === "create" ? (a.object as V1PodDisruptionBudget).spec?.minAvailable : undefined;
  };

  for (const replicas of [1, 2]) {
    it(`rolls ${replicas} voter(s) by a plain delete with a Warning, and says the cluster is unwritable`, () => {
      const o = observed({ spec: { ...NEW, replicas }, podSpec: { ...OLD, replicas } });
      const [step] = deletes(o);
      assert.equal(step?.name, `db-${replicas - 1}`);
      assert.equal(step?.evict, false, "the budget at quorum would refuse every eviction");
      assert.equal(step?.a.warning, true);
      assert.match(step.a.message, /no roll keeps quorum, so the cluster is unwritable until db-\d is back/);
      const hold = plan(o).waits.find((w) => w.reason === "RollingWithoutQuorum");
      assert.match(hold?.message ?? "", /unwritable while each voter is replaced, one at a time/);
      assert.ok(HOLDS.has("RollingWithoutQuorum"), "shown in Progressing while the roll runs");
    });
  }

  it("with 3 voters evicts (in line with drains), says nothing about quorum", () => {
    const o = observed({ spec: NEW, podSpec: OLD });
    assert.deepEqual(
      deletes(o).map((d) => [d.name, d.evict, d.a.warning]),
      [["db-2", true, undefined]],
    );
    assert.ok(!plan(o).waits.some((w) => w.reason === "RollingWithoutQuorum"));
  });

  it("spec.maintenance opens a small cluster's budget to one voter, and its roll evicts again", () => {
    const budget = (replicas: number, inProgress: boolean) =>
      pdbOf(observed({ spec: { ...NEW, replicas, maintenance: { inProgress } } }));
    assert.deepEqual([budget(1, false), budget(2, false), budget(3, false), budget(5, false)], [1, 2, 2, 4]);
    assert.deepEqual([budget(1, true), budget(2, true), budget(3, true), budget(5, true)], [0, 1, 2, 4]);
    const o = observed({
      spec: { ...NEW, replicas: 2, maintenance: { inProgress: true } },
      podSpec: { ...OLD, replicas: 2 },
    });
    assert.equal(deletes(o)[0]?.evict, true);
  });

  it("the budget counts voters that can be healthy: not held or unplaceable ones (no eviction deadlock)", () => {
    // kubectl scale during a roll to rqlite 10: the held joiner does not raise minAvailable (was 5 of 5).
    const V9 = { replicas: 5, image: "rqlite/rqlite:9.4.5" };
    const held = observed({
      spec: { ...V9, replicas: 6, image: "rqlite/rqlite:10.2.7" },
      podSpec: V9,
      pods: ["db-0", "db-1", "db-2", "db-3", "db-4"],
    });
    assert.ok(plan(held).waits.some((w) => w.reason === "ScaleUpHeldForUpgrade"));
    assert.equal(pdbOf(held), 4);
    // A 4th voter no node can place: the budget stays at 3 voters' worth until the roll places it.
    const four = { ...NEW, replicas: 4 };
    const o = observed({
      spec: four,
      podSpec: OLD,
      pods: ["db-0", "db-1", "db-2", "db-3"],
      members: ["db-0", "db-1", "db-2"],
    });
    o.pods[3]!.spec!.nodeName = undefined;
    o.pods[3]!.status = {
      conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "anti-affinity" }],
    };
    assert.equal(pdbOf(o), 2);
  });

  it("without the leader's view, a voter a drain evicted still counts in the budget (the status's members)", () => {
    // Scaling 7 voters down to 4 while no leader answers (the TLS CA Secret gone after a restart):
    // the drain evicted db-0, which terminates; it is still a Raft member.
    const w = {
      spec: { ...NEW, replicas: 4 },
      pods: ["db-0", "db-1", "db-2", "db-3", "db-4", "db-5", "db-6"],
      terminating: ["db-0"],
      noRaft: true,
    };
    const seven = ["db-0", "db-1", "db-2", "db-3", "db-4", "db-5", "db-6"];
    assert.equal(pdbOf({ ...observed(w), lastMembers: seven }), 6);
    // The Pods alone would have let a second eviction through (6 voters: 5).
    assert.equal(pdbOf(observed(w)), 5);
    // db-6 joined after the last status with members (the leader unreadable since): the Pods
    // and the status together count 7 voters, where either alone counts 6 and lets a second
    // eviction through.
    const joined = { ...w, terminating: ["db-2"] };
    assert.equal(pdbOf({ ...observed(joined), lastMembers: seven.slice(0, 6) }), 6);
  });

  it("a hold still reports a user's budget and a partitioned node, and changes no Pod", () => {
    const o = observed({ nodeOf: { "db-2": "n2" }, lostSince: { n2: NOW - 400_000 } });
    const held = {
      ...o,
      holds: [{ reason: "PodTemplateRefused", message: "refused", warning: true }],
      otherPdbs: [{ metadata: { name: "mine" }, spec: { selector: { matchLabels: { "rqlite.io/cluster": "db" } } } }],
    };
    const p = plan(held);
    assert.deepEqual(decisions(p.actions), []);
    assert.deepEqual(p.waits.map((x) => x.reason).sort(), [
      "NodePartitioned",
      "PodDisruptionBudgetConflict",
      "PodTemplateRefused",
    ]);
  });

  it("a user's budget over the Pods: a problem naming it and the remedy; the roll waits instead of evicting", () => {
    const o = observed({ spec: NEW, podSpec: OLD });
    o.otherPdbs = [
      {
        metadata: { name: "mine" },
        spec: { minAvailable: 1, selector: { matchLabels: { "rqlite.io/cluster": "db" } } },
      },
      { metadata: { name: "elsewhere" }, spec: { selector: { matchLabels: { app: "web" } } } },
    ];
    const p = plan(o);
    assert.deepEqual(decisions(p.actions), []);
    const w = p.waits.find((x) => x.reason === "PodDisruptionBudgetConflict");
    assert.ok(PROBLEMS.has("PodDisruptionBudgetConflict"), "shown as Progressing False, woken by the budget's removal");
    assert.match(
      w?.message ?? "",
      /^PodDisruptionBudget mine also selects this cluster's Pods .* delete it or narrow the selector/,
    );
    // A 1-voter roll deletes, which no budget refuses: it goes on.
    const small = observed({ spec: { ...NEW, replicas: 1 }, podSpec: { ...OLD, replicas: 1 } });
    small.otherPdbs = o.otherPdbs;
    assert.deepEqual(decisions(plan(small).actions), ["delete db-0"]);
  });

  it("replaces an outdated Pod that is not Ready first (rolling back a failed upgrade), even without a leader", () => {
    // db-2 got the bad spec and never became Ready; the user set the image back: db-2 is outdated.
    const o = observed({ spec: OLD, pods: ["db-0", "db-1", "db-2"], notReady: ["db-2"] });
    o.pods[2] = observed({ spec: NEW, notReady: ["db-2"] }).pods[2]!;
    o.pods.forEach((p, i) => (p.metadata!.creationTimestamp = new Date(NOW - (i === 2 ? 0 : 60_000))));
    // An older Pod that is down (a crash) is no failed step: it waits for the roll as usual.
    const older = {
      ...o,
      pods: o.pods.map((p, i) =>
        i === 2 ? { ...p, metadata: { ...p.metadata, creationTimestamp: new Date(NOW - 120_000) } } : p,
      ),
    };
    assert.deepEqual(decisions(plan(older).actions), []);
    assert.deepEqual(
      deletes(o).map((d) => [d.name, d.evict]),
      [["db-2", false]],
    );
    // A single voter that never became Ready: no leader answers, and it is still replaced.
    const one = observed({
      spec: { ...OLD, replicas: 1 },
      podSpec: { ...NEW, replicas: 1 },
      notReady: ["db-0"],
      noRaft: true,
    });
    assert.deepEqual(decisions(plan(one).actions), ["delete db-0"]);
    // ... but not while another voter is down too, nor while a scale-down's member was recorded.
    assert.deepEqual(decisions(plan({ ...o, synced: new Set(["db-0"]) }).actions), []);
    assert.deepEqual(decisions(plan({ ...one, lastMembers: ["db-0", "db-1"] }).actions), []);
  });

  it("a 2-voter roll does not take the voter not yet replaced while the replaced one starts (V1)", () => {
    // db-1 was replaced and starts on the new spec; db-0, on the old one, lost its leader with it.
    // Both are NotReady and no leader answers: db-0 is no failed step, and the roll waits for db-1.
    const w = { spec: { ...NEW, replicas: 2 }, podSpec: { ...OLD, replicas: 2 }, notReady: ["db-0", "db-1"] };
    const o = { ...observed({ ...w, noRaft: true }), lastMembers: ["db-0", "db-1"] };
    o.pods[1] = observed({ ...w, podSpec: w.spec }).pods[1]!;
    o.pods.forEach((p, i) => (p.metadata!.creationTimestamp = new Date(NOW - (i === 1 ? 0 : 60_000))));
    assert.deepEqual(decisions(plan(o).actions), []);
    // Set back to the old spec while db-1 never became Ready: db-1 is the failed step, and goes.
    const back = { ...o, cluster: observed({ ...w, spec: w.podSpec }).cluster };
    assert.deepEqual(decisions(plan(back).actions), ["delete db-1"]);
  });

  it("replaces crash-looping outdated voters that took quorum away, one at a time, whatever else is down", () => {
    // A failed upgrade left 2 of 4 voters on an image whose rqlited never starts; the user set the
    // image back. No leader answers, no voter is Ready: only their replacement brings quorum back.
    const w = {
      spec: { ...OLD, replicas: 4 },
      podSpec: { ...NEW, replicas: 4 },
      noRaft: true,
      notReady: ["db-0", "db-1", "db-2", "db-3"],
      crashLooping: ["db-0", "db-3"],
    };
    assert.deepEqual(decide(w), ["delete db-0"]);
    assert.deepEqual(decide({ ...w, terminating: ["db-0"] }), []);
    // Not Ready but running (an election after the leader died): nothing is replaced.
    assert.deepEqual(decide({ ...w, crashLooping: [] }), []);
    // Up-to-date Pods that crash-loop are no failed step: the roll does not touch them.
    assert.deepEqual(decide({ ...w, podSpec: w.spec }), []);
  });

  it("does not replace a Pod that looks crash-looping while the leader reaches its rqlite (its status lags)", () => {
    // db-1 crashed once and runs again; db-2 was drained. Deleting db-1 would leave 1 of 3 voters.
    const w = {
      spec: NEW,
      podSpec: OLD,
      pods: ["db-0", "db-1"],
      members: ["db-0", "db-1", "db-2"],
      unreachable: ["db-2"],
      notReady: ["db-1"],
      crashLooping: ["db-1"],
    };
    assert.deepEqual(decide(w), ["create db-2"]);
    assert.deepEqual(decide({ ...w, unreachable: ["db-1", "db-2"] }), ["create db-2", "delete db-1"]);
  });

  it("replaces crash-looping Pods of leaving members too while no leader answers, so they can vote one in", () => {
    // 4 voters ran an image whose rqlited never starts; the user set the image back and scaled to 1
    // at once. db-0 came back on the good image; db-1..db-3 crash-loop on the broken one and are
    // to leave, which only a leader can do, and 1 of 4 voters elects none.
    const w = {
      spec: { ...OLD, replicas: 1 },
      podSpec: { ...NEW, replicas: 4 },
      pods: ["db-0", "db-1", "db-2", "db-3"],
      noRaft: true,
      notReady: ["db-0", "db-1", "db-2", "db-3"],
      crashLooping: ["db-1", "db-2", "db-3"],
    };
    const o = { ...observed(w), lastMembers: w.pods };
    assert.deepEqual(decisions(plan(o).actions), ["delete db-1"]);
    // Gone, it comes back (a recorded member, its volume kept) with the spec set back.
    const back = { ...o, pods: o.pods.filter((p) => p.metadata!.name !== "db-1") };
    const created = plan(back).actions.find((a) => a.type === "create" && a.object.kind === "Pod");
    assert.equal(created?.type === "create" && (created.object as V1Pod).spec?.containers[0]?.image, OLD.image);
    // Nor on a refused spec.image (8.x to 10 skips a major): on the image the others run.
    const refused = observed({ ...w, spec: { ...w.spec, image: "rqlite/rqlite:10.2.7" } });
    const skip = { ...refused, lastMembers: w.pods, pods: refused.pods.filter((p) => p.metadata!.name !== "db-1") };
    const again = plan(skip).actions.find((a) => a.type === "create" && a.object.metadata?.name === "db-1");
    assert.equal(again?.type === "create" && (again.object as V1Pod).spec?.containers[0]?.image, NEW.image);
    // Members the status does not record would not come back: they are not deleted.
    assert.deepEqual(decisions(plan({ ...o, lastMembers: ["db-0"] }).actions), []);
  });

  it("a scale-down and a ghost's removal do not wait for a node that is leaving and never gets Ready", () => {
    // Scaling 4 voters and 2 read replicas down to 1 + 1; db-3 and db-ro-1 crash-loop; db-7 is a ghost.
    const base = {
      spec: { ...NEW, replicas: 1, readReplicas: 1 },
      pods: ["db-0", "db-1", "db-2", "db-3", "db-ro-0", "db-ro-1"],
      notReady: ["db-3", "db-ro-1"],
      crashLooping: ["db-3", "db-ro-1"],
    };
    const members = [...base.pods, "db-7"];
    assert.deepEqual(decide({ ...base, members, unreachable: ["db-3", "db-ro-1", "db-7"] }), ["remove db-7"]);
    // The not-Ready read replica leaves first, though voter db-3 is down too.
    assert.deepEqual(decide({ ...base, unreachable: ["db-3", "db-ro-1"] }), ["remove db-ro-1"]);
    // ... and the quorum check still counts every voter: db-3 goes only while the others reach quorum.
    const voters = { ...base, pods: ["db-0", "db-1", "db-2", "db-3", "db-ro-0"] };
    assert.deepEqual(decide({ ...voters, unreachable: ["db-3"] }), ["remove db-3"]);
    assert.deepEqual(decide({ ...voters, unreachable: ["db-3", "db-1", "db-2"] }), []);
  });

  it("a ghost's removal does not wait for joiners held until a roll to rqlite 10", () => {
    const w = {
      spec: { replicas: 4, image: "rqlite/rqlite:10.2.7" },
      podSpec: { replicas: 3, image: "rqlite/rqlite:9.4.5" },
      pods: ["db-0", "db-1", "db-2"],
      members: ["db-0", "db-1", "db-2", "db-7"],
      unreachable: ["db-7"],
    };
    const p = plan(observed(w));
    assert.deepEqual(decisions(p.actions), ["remove db-7"]);
    assert.ok(p.waits.some((x) => x.reason === "ScaleUpHeldForUpgrade"));
  });

  it("judges spec.image against the version of every Pod that runs, not the spec the roll started from", () => {
    const o = observed({
      spec: { replicas: 3, image: "rqlite/rqlite:10.2.7" },
      podSpec: { replicas: 3, image: "rqlite/rqlite:9.4.5" },
    });
    o.pods[0]!.spec!.containers[0]!.image = "rqlite/rqlite:8.43.4";
    const p = plan(o);
    assert.deepEqual(decisions(p.actions), []);
    const w = p.waits.find((x) => x.reason === "UpgradeRefused");
    assert.match(
      w?.message ?? "",
      /cannot replace rqlite 8\.43\.4, which Pod db-0 runs: upgrade to major version 9 first/,
    );
    assert.ok(PROBLEMS.has("UpgradeRefused"));
  });

  /** The rqlite image of the Pod a plan creates. */
  const createdImage = (p: ReturnType<typeof plan>, name: string) => {
    const a = p.actions.find((x) => x.type === "create" && x.object.kind === "Pod" && x.object.metadata?.name === name);
    return a?.type === "create" ? (a.object as V1Pod).spec!.containers[0]!.image : undefined;
  };

  it("re-creates a Pod (drain, lost node) with the image the cluster runs while spec.image is refused, never a mix", () => {
    // 8.x runs; spec.image jumps to 10.x (refused); db-1 was drained away.
    const w: World = {
      spec: { replicas: 3, image: "rqlite/rqlite:10.2.7" },
      podSpec: NEW,
      pods: ["db-0", "db-2"],
      members: ["db-0", "db-1", "db-2"],
      unreachable: ["db-1"],
    };
    const p = plan(observed(w));
    assert.deepEqual(decisions(p.actions), ["create db-1"]);
    assert.equal(createdImage(p, "db-1"), NEW.image);
    const refused = p.waits.find((x) => x.reason === "UpgradeRefused")!;
    assert.match(
      refused.message,
      /which Pod db-0 runs: upgrade to major version 9 first, .*Pods made meanwhile run rqlite\/rqlite:8\.43\.4$/,
    );
    // Nothing to roll meanwhile: the Pods that run are what new ones would be.
    assert.deepEqual(decide({ ...w, pods: ["db-0", "db-1", "db-2"], unreachable: [] }), []);
    // Once accepted (a step every Pod can take), new Pods take spec.image again.
    const accepted = plan(observed({ ...w, spec: { replicas: 3, image: "rqlite/rqlite:9.4.5" } }));
    assert.equal(createdImage(accepted, "db-1"), "rqlite/rqlite:9.4.5");
  });

  it("mid-roll with a mix of accepted versions, a refused image re-creates with one every running Pod can step to", () => {
    // A 9.x -> 10.x roll under way (db-4 on 10.x), then 8.x set (10.x cannot go back): db-3, lost,
    // comes back on 10.x, though 9.x runs on more Pods: a 9.x Pod would take db-4's data back.
    const o = observed({
      spec: { replicas: 5, image: "rqlite/rqlite:8.43.4" },
      podSpec: { replicas: 5, image: "rqlite/rqlite:9.4.5" },
      pods: ["db-0", "db-1", "db-2", "db-4"],
      members: ["db-0", "db-1", "db-2", "db-3", "db-4"],
      unreachable: ["db-3"],
    });
    o.pods[3]!.spec!.containers[0]!.image = "rqlite/rqlite:10.2.7";
    const p = plan(o);
    assert.deepEqual(decisions(p.actions), ["create db-3"]);
    assert.equal(createdImage(p, "db-3"), "rqlite/rqlite:10.2.7");
  });

  it("with no Pod running, judges spec.image against the images status recorded, and re-creates with them", () => {
    const o = observed({ spec: { replicas: 3, image: "rqlite/rqlite:10.2.7" }, podSpec: NEW, pods: [], members: [] });
    const p = plan({ ...o, lastImages: [NEW.image] });
    assert.deepEqual(decisions(p.actions).sort(), ["create db-0", "create db-1", "create db-2"]);
    for (const n of ["db-0", "db-1", "db-2"]) assert.equal(createdImage(p, n), NEW.image);
    assert.match(
      p.waits.find((x) => x.reason === "UpgradeRefused")!.message,
      /which status\.images \(no Pod runs\) runs/,
    );
  });
});

describe("plan: readings it asks for (Need) before deciding", () => {
  const withoutSync = (w: World): Observed => {
    const { synced: _s, ...o } = observed(w);
    return o;
  };

  it("asks a steady cluster nothing, so a resync costs no /readyz?sync call", () => {
    const p = plan(withoutSync({ spec: NEW }));
    assert.equal(p.needs, undefined);
  });

  it("asks the Ready nodes for /readyz?sync only while a disruptive step may be due, and no action before", () => {
    const p = plan(withoutSync({ spec: NEW, podSpec: OLD, notReady: ["db-2"] }));
    assert.deepEqual(p.needs, [{ type: "synced", nodes: ["db-0", "db-1"] }]);
    assert.deepEqual(p.actions, []);
  });

  it("decides once the reading is in, and never asks for it again", () => {
    const o = withReadings(withoutSync({ spec: NEW, podSpec: OLD }), { synced: new Set(["db-0", "db-1", "db-2"]) });
    const p = plan(o);
    assert.equal(p.needs, undefined);
    assert.deepEqual(decisions(p.actions), ["delete db-2"]);
  });

  it("asks nothing of a paused cluster", () => {
    assert.equal(plan(withoutSync({ spec: { ...NEW, paused: true }, podSpec: OLD })).needs, undefined);
  });
});

describe("plan: hibernation (spec.hibernate)", () => {
  const HIBERNATE = { ...NEW, hibernate: true };
  const MEMBERS = ["db-0", "db-1", "db-2"];
  /** A cluster whose Pods are all gone, with the volumes and the last recorded members left. */
  const asleep = (spec: RqClusterSpec, volumes = MEMBERS): Observed => {
    const o = observed({ spec, pods: [], noRaft: true });
    const c = clusterView({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: "db", namespace: "ns", uid: "uid-1" },
      spec: NEW,
    });
    const all = desiredMembers("db", 9, 3);
    return {
      ...o,
      pvcs: volumes.map((name) =>
        renderPvc(
          c,
          all.find((m) => m.name === name)!,
          3,
        ),
      ),
      lastMembers: volumes,
    };
  };
  const touchesVolumes = (actions: Action[]) =>
    actions.filter((a) => a.type === "delete" && a.target.kind === "PersistentVolumeClaim");

  const rows: Array<[string, Observed, string[]]> = [
    [
      "deletes every Pod at once, read replicas too",
      observed({ spec: { ...HIBERNATE, readReplicas: 1 }, pods: [...MEMBERS, "db-ro-0"] }),
      ["delete db-0", "delete db-1", "delete db-2", "delete db-ro-0"],
    ],
    ["also while no leader answers", observed({ spec: HIBERNATE, noRaft: true }), MEMBERS.map((n) => `delete ${n}`)],
    [
      "also mid-roll, and leaves a terminating Pod to go",
      observed({ spec: HIBERNATE, podSpec: OLD, terminating: ["db-2"] }),
      ["delete db-0", "delete db-1"],
    ],
    ["creates no Pod once hibernated", asleep(HIBERNATE), []],
    ["creates no Pod for a scale-up asked while hibernated", asleep({ ...HIBERNATE, replicas: 5 }), []],
    ["wakes every recorded member at once", asleep(NEW), MEMBERS.map((n) => `create ${n}`)],
    [
      "wakes the members the volumes hold when a scale-down was asked while hibernated: quorum needs them",
      asleep({ ...NEW, replicas: 1 }),
      MEMBERS.map((n) => `create ${n}`),
    ],
    ["changes nothing while paused", observed({ spec: { ...HIBERNATE, paused: true } }), []],
  ];
  for (const [name, o, want] of rows) {
    it(name, () => {
      const p = plan(o);
      assert.deepEqual(decisions(p.actions), want);
      assert.deepEqual(touchesVolumes(p.actions), [], "no volume is deleted");
    });
  }

  it("deletes plainly (no eviction the budget would refuse), and names the volume kept", () => {
    const deletes = plan(observed({ spec: HIBERNATE })).actions.filter((a) => a.type === "deletePod");
    assert.equal(deletes.length, 3);
    for (const a of deletes) {
      assert.ok(a.type === "deletePod" && !a.evict && !a.force, `${a.message}: plain delete`);
      assert.equal(a.reason, "Hibernating");
      assert.match(a.message, /spec\.hibernate is true.*PVC/);
    }
  });

  it("deletes even while a hold waits on a person", () => {
    const o = {
      ...observed({ spec: HIBERNATE }),
      holds: [{ reason: "PodTemplateRefused", message: "x", warning: true }],
    };
    assert.deepEqual(
      decisions(plan(o).actions),
      MEMBERS.map((n) => `delete ${n}`),
    );
  });

  it("status: Hibernated keeps the members and images, names no leader, raises no Degraded", () => {
    const o = asleep(HIBERNATE);
    const previous = {
      phase: "Running" as const,
      leader: "db-1",
      currentImage: "rqlite/rqlite:8.43.4",
      images: ["rqlite/rqlite:8.43.4"],
      members: MEMBERS.map((id) => ({ id, voter: true, ready: true, address: `${id}:4002` })),
    };
    const status = computeStatus(
      o.cluster,
      { observed: o, facts: deriveFacts(o), wasAvailable: true, problems: [] },
      previous,
      new Date(NOW),
    );
    assert.equal(status.phase, "Hibernated");
    assert.equal(status.leader, undefined);
    assert.deepEqual(status.images, previous.images);
    assert.equal(status.currentImage, previous.currentImage);
    assert.deepEqual(
      status.members!.map((m) => [m.id, m.ready]),
      MEMBERS.map((id) => [id, false]),
    );
    const cond = (type: string) => status.conditions!.find((c) => c.type === type)!;
    assert.deepEqual(
      ["Available", "Progressing", "Degraded"].map((t) => [t, cond(t).status, cond(t).reason]),
      [
        ["Available", "False", "Hibernated"],
        ["Progressing", "False", "Hibernated"],
        ["Degraded", "False", "Hibernated"],
      ],
    );
    assert.match(cond("Available").message, /3 PVCs kept/);
    const patch = statusPatch(previous, status) as { leader?: unknown };
    assert.equal(patch.leader, null, "the old leader is cleared");
  });

  it("status: Progressing Hibernating while Pods are still going", () => {
    const o = observed({ spec: HIBERNATE, terminating: ["db-2"] });
    const status = computeStatus(
      o.cluster,
      { observed: o, facts: deriveFacts(o), wasAvailable: true, problems: [] },
      undefined,
      new Date(NOW),
    );
    assert.notEqual(status.phase, "Hibernated");
    const progressing = status.conditions!.find((c) => c.type === "Progressing")!;
    assert.deepEqual([progressing.status, progressing.reason], ["True", "Hibernating"]);
    assert.equal(status.conditions!.find((c) => c.type === "Degraded")!.status, "False");
  });
});

describe("plan: quorum-loss recovery (spec.recovery)", () => {
  const ASK = { confirm: "uid-1", requestedAt: "2026-12-07T16:00:00Z" };
  const RECOVER = { ...NEW, recovery: ASK };
  const idx = (lastLogIndex: number, appliedIndex = lastLogIndex, term = 2) => ({
    lastLogIndex,
    appliedIndex,
    commitIndex: appliedIndex,
    term,
  });
  /** db-0 survived with its data; db-1 and db-2 run on fresh, empty volumes. */
  const oneSurvivor = [
    { id: "db-0", volume: true, indexes: idx(120, 118) },
    { id: "db-1", volume: true, indexes: idx(0) },
    { id: "db-2", volume: true, indexes: idx(0) },
  ];
  const world = (
    voters: VoterEvidence[],
    w: Parameters<typeof observed>[0] = {},
    previous?: RecoveryStatus,
  ): Observed & { recovery: RecoveryObservation } => {
    const o = observed({ spec: RECOVER, noRaft: true, ...w });
    return { ...o, recovery: { voters, ...(previous ? { previous } : {}) } };
  };
  const step = (o: Observed) => plan(o).recovery;

  const refusals: Array<[string, Observed, string, RegExp]> = [
    [
      "another uid",
      {
        ...world(oneSurvivor),
        cluster: {
          ...world(oneSurvivor).cluster,
          spec: { ...world(oneSurvivor).cluster.spec, recovery: { ...ASK, confirm: "uid-2" } },
        },
      },
      "RecoveryNotConfirmed",
      /not this RqCluster's uid \(uid-1\)/,
    ],
    ["a leader answers", world(oneSurvivor, { noRaft: false }), "QuorumExists", /leader db-0 answers/],
    [
      "a majority runs with its data (an election, not a loss)",
      world([oneSurvivor[0]!, { id: "db-1", volume: true, indexes: idx(119) }, oneSurvivor[2]!]),
      "QuorumExists",
      /2 of 3 voters \(db-0, db-1\) run with their data/,
    ],
    [
      "no voter holds data",
      world(oneSurvivor.map((v) => ({ ...v, indexes: idx(0) }))),
      "NoSurvivor",
      /no voter of db-0, db-1, db-2 holds data.*spec\.recovery\.source: Backup/,
    ],
  ];
  for (const [name, o, reason, message] of refusals) {
    it(`refuses, for good, when ${name}; nothing changes`, () => {
      const r = step(o)!;
      assert.equal(r.status.phase, "Refused");
      assert.equal(r.event?.reason, reason);
      assert.ok(r.event?.warning);
      assert.match(r.status.message!, message);
      assert.deepEqual(r.actions, []);
      assert.equal(r.ownsPods, false);
      const again = { ...o, recovery: { ...o.recovery!, previous: r.status } };
      assert.equal(step(again), undefined, "a refused request is not judged again");
    });
  }

  it("waits while voters with volumes did not answer: quorum may come back", () => {
    const o = world([oneSurvivor[0]!, { id: "db-1", volume: true }, oneSurvivor[2]!], { pods: ["db-0", "db-2"] });
    const r = step(o)!;
    assert.equal(r.status.phase, "Pending");
    assert.match(r.status.message!, /voters db-1 still have volumes.*delete their PVCs/);
    assert.equal(r.ownsPods, false);
    assert.ok(plan(o).requeueAfterMs! <= 2000, "looks again soon");
  });

  it("picks the longest log, names the lost voters and the entries discarded, and stops every Pod", () => {
    const voters = [
      { id: "db-0", volume: true, indexes: idx(100) },
      { id: "db-1", volume: true, indexes: idx(0) },
      { id: "db-2", volume: true, indexes: idx(130, 125) },
      { id: "db-3", volume: false },
      { id: "db-4", volume: false },
    ];
    const o = world(voters, { spec: { ...RECOVER, replicas: 5 } });
    const r = step(o)!;
    assert.equal(r.status.phase, "Stopping");
    assert.equal(r.status.survivor, "db-2");
    assert.deepEqual(r.status.lost, ["db-1", "db-3", "db-4"]);
    assert.equal(r.status.entriesLost, 0, "no survivor held more than db-2");
    assert.deepEqual(
      r.status.survivors!.map((s) => [s.id, s.lastLogIndex]),
      [
        ["db-2", 130],
        ["db-0", 100],
      ],
    );
    assert.equal(r.event?.reason, "RecoveryStarted");
    assert.match(r.event.message, /recovering from db-2 \(Raft log to index 130, applied 125/);
    assert.deepEqual(decisions(plan(o).actions), [
      "delete db-0",
      "delete db-1",
      "delete db-2",
      "delete db-3",
      "delete db-4",
    ]);
  });

  it("counts the entries another survivor held beyond the chosen one's log (equal logs: the higher applied index)", () => {
    const r = step(
      world([
        { id: "db-0", volume: true, indexes: idx(120, 110) },
        { id: "db-1", volume: true, indexes: idx(120, 118) },
        { id: "db-2", volume: false },
      ]),
    )!;
    assert.equal(r.status.phase, "Refused", "two of three with data is quorum");
    const five = world(
      [
        { id: "db-0", volume: true, indexes: idx(120, 110) },
        { id: "db-1", volume: true, indexes: idx(120, 118) },
        { id: "db-2", volume: false },
        { id: "db-3", volume: false },
        { id: "db-4", volume: false },
      ],
      { spec: { ...RECOVER, replicas: 5 } },
    );
    assert.equal(step(five)!.status.survivor, "db-1");
    assert.equal(step(five)!.status.entriesLost, 0);
  });

  const started = (phase: RecoveryStatus["phase"], extra: Partial<RecoveryStatus> = {}): RecoveryStatus => ({
    requestedAt: ASK.requestedAt,
    phase,
    survivor: "db-0",
    startedAt: "2026-12-07T16:00:05Z",
    ...extra,
  });

  it("creates nothing of the usual plan while it owns the Pods, and writes peers.json once all are gone", () => {
    const o = world(oneSurvivor, { pods: [] }, started("Stopping"));
    const p = plan(o);
    assert.deepEqual(decisions(p.actions), ["create db-recovery"], "no node Pod is created, only the writer");
    const writer = p.actions.find((a) => a.type === "create" && a.object.kind === "Pod");
    assert.ok(writer && writer.type === "create");
    const pod = writer.object as V1Pod;
    assert.equal(pod.metadata!.name, "db-recovery");
    assert.equal(pod.metadata!.labels!["rqlite.io/cluster"], undefined, "no node of the cluster");
    assert.equal(pod.spec!.volumes![0]!.persistentVolumeClaim!.claimName, "db-0");
    assert.equal(pod.spec!.restartPolicy, "Never");
    const peers = JSON.parse(pod.spec!.containers[0]!.env!.find((e) => e.name === "PEERS")!.value!) as unknown;
    assert.deepEqual(peers, [{ id: "db-0", address: `${loopbackAddress("ns", "db-0")}:4002`, non_voter: false }]);
    assert.match(pod.spec!.containers[0]!.args![0]!, /\/rqlite\/file\/data\/raft\/peers\.json/);
    assert.equal(p.recovery!.status.phase, "WritingPeers");
  });

  it("while stopping, deletes the Pods left and waits for those terminating", () => {
    const p = plan(world(oneSurvivor, { terminating: ["db-1"] }, started("Stopping")));
    assert.deepEqual(decisions(p.actions), ["delete db-0", "delete db-2"]);
    assert.equal(p.recovery!.status.phase, "Stopping");
  });

  const writerPod = (phase: string, message?: string): V1Pod => ({
    metadata: { name: "db-recovery", labels: { "rqlite.io/recovery-of": "db" } },
    status: {
      phase,
      ...(message
        ? {
            containerStatuses: [
              {
                name: "peers",
                image: "x",
                imageID: "",
                ready: false,
                restartCount: 0,
                state: { terminated: { exitCode: 1, message } },
              },
            ],
          }
        : {}),
    },
  });

  it("restarts once peers.json is written: the writer goes, the usual plan brings the Pods back next", () => {
    const o = world(oneSurvivor, { pods: [] }, started("WritingPeers"));
    o.recovery.writer = writerPod("Running");
    assert.deepEqual(
      plan(o).actions.filter((a) => a.type !== "create" || a.object.kind === "Pod"),
      [],
      "waits for the writer",
    );
    o.recovery.writer = writerPod("Succeeded");
    const p = plan(o);
    assert.equal(p.recovery!.status.phase, "Restarting");
    assert.deepEqual(
      p.actions.filter((a) => a.type === "delete").map((a) => a.message),
      ["deleted Pod db-recovery, which wrote peers.json"],
    );
    const next = world(oneSurvivor, { pods: [] }, started("Restarting"));
    assert.deepEqual(decisions(plan(next).actions), ["create db-0", "create db-1", "create db-2"]);
  });

  it("fails, for good, when the writer found no rqlite data, and gives the Pods back", () => {
    const o = world(oneSurvivor, { pods: [] }, started("WritingPeers"));
    o.recovery.writer = writerPod("Failed", "no Raft folder in /rqlite/file/data: the volume holds no rqlite data");
    const r = step(o)!;
    assert.equal(r.status.phase, "Failed");
    assert.match(r.status.message!, /failed: no Raft folder/);
    assert.equal(r.event?.reason, "RecoveryFailed");
    assert.equal(r.ownsPods, false);
  });

  it("completes once a leader answers, keeping the report", () => {
    const o = world(oneSurvivor, {}, started("Restarting", { message: "recovering from db-0 ..." }));
    const r = step({ ...o, raft: { leader: "db-0", members: [], canTransfer: true } })!;
    assert.equal(r.status.phase, "Completed");
    assert.match(r.status.message!, /^recovered: db-0 leads again; recovering from db-0/);
    assert.equal(r.event?.reason, "RecoveryCompleted");
    assert.equal(step(world(oneSurvivor, {}, { ...r.status })), undefined, "over");
  });

  it("a new requestedAt asks again after a final answer", () => {
    const o = world(oneSurvivor, {}, started("Completed"));
    assert.equal(step(o), undefined);
    const again = {
      ...o,
      cluster: { ...o.cluster, spec: { ...o.cluster.spec, recovery: { ...ASK, requestedAt: "2026-12-08T00:00:00Z" } } },
    };
    assert.equal(step(again)!.status.phase, "Stopping");
  });

  describe("from the newest verified backup (source Backup)", () => {
    const FROM_BACKUP = { ...NEW, recovery: { ...ASK, source: "Backup" as const } };
    const BACKUP = {
      name: "nightly-2",
      location: "s3://bk/db/nightly-2.sqlite",
      completedAt: "2026-12-07T15:00:00Z",
      verifiedAt: "2026-12-07T15:01:00Z",
    };
    /** Every voter lost its volume; the Pods the operator remade run on empty ones. */
    const noneHeld = oneSurvivor.map((v) => ({ ...v, volume: false, indexes: idx(0) }));
    const fromBackup = (
      voters: VoterEvidence[],
      w: Parameters<typeof observed>[0] = {},
      previous?: RecoveryStatus,
      backup: RecoveryObservation["backup"] = BACKUP,
    ): Observed & { recovery: RecoveryObservation } => {
      const o = world(voters, { spec: FROM_BACKUP, ...w }, previous);
      return { ...o, recovery: { ...o.recovery, backup } };
    };
    const at = (phase: RecoveryStatus["phase"]): RecoveryStatus => ({
      requestedAt: ASK.requestedAt,
      phase,
      backup: BACKUP,
      lost: ["db-0", "db-1", "db-2"],
      startedAt: "2026-12-07T16:00:05Z",
    });
    const created = (p: V1PersistentVolumeClaim, when: string): V1PersistentVolumeClaim => ({
      ...p,
      metadata: { ...p.metadata, creationTimestamp: new Date(when) },
    });

    const refusals: Array<[string, Observed, string, RegExp]> = [
      ["a leader answers", fromBackup(noneHeld, { noRaft: false }), "QuorumExists", /leader db-0 answers/],
      [
        "a voter holds data (newer than any backup)",
        fromBackup(oneSurvivor),
        "SurvivorsHoldData",
        /voters db-0 run with their data.*source: Survivors/,
      ],
      [
        "no verified backup exists",
        fromBackup(noneHeld, {}, undefined, { problem: "none of its 2 RqBackups is ... Verified" }),
        "NoVerifiedBackup",
        /no voter holds data and none of its 2 RqBackups/,
      ],
    ];
    for (const [name, o, reason, message] of refusals) {
      it(`refuses, for good, when ${name}; nothing changes`, () => {
        const r = step(o)!;
        assert.equal(r.status.phase, "Refused");
        assert.equal(r.event?.reason, reason);
        assert.match(r.status.message!, message);
        assert.deepEqual(r.actions, []);
      });
    }

    it("waits while a voter's volume may hold data its rqlited did not report", () => {
      const r = step(fromBackup([{ id: "db-0", volume: true }, ...noneHeld.slice(1)], { pods: ["db-1", "db-2"] }))!;
      assert.equal(r.status.phase, "Pending");
      assert.match(r.status.message!, /voters db-0 still have volumes/);
    });

    it("names the backup and its time (the data-loss window), and stops every Pod", () => {
      const o = fromBackup(noneHeld);
      const r = step(o)!;
      assert.equal(r.status.phase, "Stopping");
      assert.deepEqual(r.status.backup, BACKUP);
      assert.equal(r.status.survivor, undefined);
      assert.equal(r.event?.reason, "RecoveryStarted");
      assert.match(
        r.event.message,
        /RqBackup nightly-2 .*taken at 2026-12-07T15:00:00Z.*every write after 2026-12-07T15:00:00Z is lost/,
      );
      assert.deepEqual(decisions(plan(o).actions), ["delete db-0", "delete db-1", "delete db-2"]);
    });

    it("once the Pods are gone, deletes the members' volumes made before it started, and only those", () => {
      const o = fromBackup(noneHeld, { pods: [] }, at("Stopping"));
      const old = observed({ spec: { ...FROM_BACKUP, readReplicas: 1 } }).pvcs;
      o.pvcs = [
        created(old[0]!, "2026-12-01T00:00:00Z"),
        created(old[1]!, "2026-12-07T16:00:05Z"),
        created(old[2]!, "2026-12-07T16:00:09Z"),
        created(old[3]!, "2026-12-01T00:00:00Z"),
        created({ ...old[0]!, metadata: { ...old[0]!.metadata, name: "db-7" } }, "2026-12-01T00:00:00Z"),
      ];
      o.cluster = { ...o.cluster, spec: { ...o.cluster.spec, readReplicas: 1 } };
      const p = plan(o);
      assert.equal(p.recovery!.status.phase, "ClearingVolumes");
      assert.deepEqual(
        p.actions.filter((a) => a.type === "delete").map((a) => (a.type === "delete" ? a.target.name : "")),
        ["db-0", "db-1", "db-ro-0"],
        "db-2 is fresh; db-7 (a released claim) is no member's",
      );
      assert.deepEqual(decisions(p.actions), [], "no Pod is made meanwhile");
    });

    it("restores once every member's volume is fresh: Pods come from the next reconcile, loading the backup", () => {
      const o = fromBackup(noneHeld, { pods: [] }, at("ClearingVolumes"));
      o.pvcs = o.pvcs.map((p) => created(p, "2026-12-07T16:00:30Z"));
      const p = plan(o);
      assert.equal(p.recovery!.status.phase, "Restoring");
      assert.equal(p.recovery!.event?.reason, "RecoveryRestoring");
      assert.deepEqual(decisions(p.actions), [], "this reconcile renders no Pod without the backup");

      // The next reconcile sees the backup as spec.restore (../recovery.ts recoveryRestore).
      const next = fromBackup(noneHeld, { pods: [] }, at("Restoring"));
      next.pvcs = [];
      next.cluster = {
        ...next.cluster,
        spec: { ...next.cluster.spec, restore: { backup: BACKUP.name } },
        restore: {
          bucket: "bk",
          region: "us-east-1",
          forcePathStyle: false,
          key: "db/nightly-2.sqlite",
          location: BACKUP.location,
        },
      };
      const made = plan(next).actions.flatMap((a) =>
        a.type === "create" && a.object.kind === "Pod" ? [a.object as V1Pod] : [],
      );
      assert.deepEqual(
        made.map((pod) => pod.metadata!.name),
        ["db-0", "db-1", "db-2"],
      );
      for (const pod of made)
        assert.ok(
          pod.spec!.containers[0]!.args!.some((a) => /^-auto-restore=/.test(a)),
          `${pod.metadata!.name} loads the backup`,
        );
    });

    it("completes once a leader answers and rqlite counted the load; fails when it counted a failed one", () => {
      const o = fromBackup(noneHeld, {}, at("Restoring"));
      const leader = { raft: { leader: "db-1", members: [], canTransfer: true } };
      assert.equal(step({ ...o, ...leader })!.status.phase, "Restoring", "no evidence of the load yet");
      const loaded = new Map([["db-1", { restored: 1, failed: 0, skipped: 0 }]]);
      const r = step({ ...o, ...leader, restoreCounts: loaded })!;
      assert.equal(r.status.phase, "Completed");
      assert.equal(r.event?.reason, "RecoveryCompleted");
      assert.match(
        r.status.message!,
        /RqBackup nightly-2 .*taken at 2026-12-07T15:00:00Z: db-1 leads; every write after/,
      );
      assert.deepEqual(r.status.backup, BACKUP, "the report keeps the backup and its time");
      const failed = new Map([["db-0", { restored: 0, failed: 1, skipped: 0 }]]);
      const f = step({ ...o, restoreCounts: failed })!;
      assert.equal(f.status.phase, "Failed");
      assert.match(f.status.message!, /rqlite on db-0 could not load RqBackup nightly-2/);
    });
  });

  it("has the Pods load the recovery's backup from the step that makes them on, and only then", () => {
    const backup = { name: "b1", location: "s3://bk/b1.sqlite", completedAt: "2026-12-07T15:00:00Z" };
    const status = (phase: RecoveryStatus["phase"], withBackup = true) => ({
      recovery: { requestedAt: ASK.requestedAt, phase, ...(withBackup ? { backup } : { survivor: "db-0" }) },
    });
    for (const phase of ["Pending", "Stopping", "ClearingVolumes", "Refused", "Failed"] as const)
      assert.equal(recoveryRestore(status(phase)), undefined, phase);
    assert.equal(recoveryRestore(status("Completed", false)), undefined, "a recovery from survivors loads nothing");
    assert.equal(recoveryRestore(undefined), undefined);
    assert.deepEqual(recoveryRestore(status("Restoring")), {
      spec: { backup: "b1" },
      location: backup.location,
      done: false,
    });
    assert.deepEqual(recoveryRestore(status("Completed")), {
      spec: { backup: "b1" },
      location: backup.location,
      done: true,
    });
  });

  it("picks the newest RqBackup of the cluster that was verified, by completion time", () => {
    const b = (
      name: string,
      completedAt: string,
      extra: { cluster?: string; verified?: boolean; format?: string; pvc?: boolean } = {},
    ): RqBackup => ({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqBackup",
      metadata: { name },
      spec: {
        cluster: extra.cluster ?? "db",
        ...(extra.format ? { format: extra.format } : {}),
        destination: extra.pvc ? { pvc: { claimName: "x" } } : { s3: { bucket: "bk" } },
      } as RqBackup["spec"],
      status: {
        phase: "Completed",
        completedAt,
        location: extra.pvc ? `pvc://x/${name}` : `s3://bk/${name}`,
        conditions: [
          {
            type: "Verified",
            status: extra.verified === false ? "False" : "True",
            reason: "x",
            message: "",
            lastTransitionTime: completedAt,
          },
        ],
        verification: { result: extra.verified === false ? "Failed" : "Verified", verifiedAt: completedAt },
      },
    });
    const all = [
      b("old", "2026-12-07T10:00:00Z"),
      b("mid", "2026-12-07T11:00:00Z"),
      b("unverified", "2026-12-07T12:00:00Z", { verified: false }),
      b("other-cluster", "2026-12-07T13:00:00Z", { cluster: "other" }),
      b("dump", "2026-12-07T14:00:00Z", { format: "sql" }),
      b("on-pvc", "2026-12-07T15:00:00Z", { pvc: true }),
    ];
    assert.deepEqual(newestVerifiedBackup(all, "db"), {
      name: "mid",
      location: "s3://bk/mid",
      completedAt: "2026-12-07T11:00:00Z",
      verifiedAt: "2026-12-07T11:00:00Z",
    });
    const none = newestVerifiedBackup(all.slice(2), "db");
    assert.ok("problem" in none);
    assert.match(
      none.problem,
      /none of its 3 RqBackups is a Completed binary backup in S3 whose Verified condition is True/,
    );
  });
});
