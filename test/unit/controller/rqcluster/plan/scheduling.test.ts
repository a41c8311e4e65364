// Table tests of how a Pod the scheduler cannot place shows on the cluster: a Warning wait with
// the scheduler's own message, and the Progressing condition that names it.
import { strict as assert } from "node:assert";
import type { V1PodCondition } from "@kubernetes/client-node";
import { deriveFacts, plan, PROBLEMS } from "../../../../../controller/rqcluster/plan/index.js";
import { unschedulableWaits } from "../../../../../controller/rqcluster/plan/scheduling.js";
import type { Observed } from "../../../../../controller/rqcluster/plan/types.js";
import { clusterView } from "../../../../../controller/rqcluster/render/cluster.js";
import { desiredMembers } from "../../../../../controller/rqcluster/render/members.js";
import { renderPod } from "../../../../../controller/rqcluster/render/pod.js";
import { computeStatus } from "../../../../../controller/rqcluster/status.js";
import type { RqClusterSpec } from "../../../../../shared/index.js";
import { loopbackAddress } from "../../../../../shared/loopback-address.js";

const addressing = { kind: "static" as const, addressOf: loopbackAddress };
const NOW = Date.parse("2026-11-30T12:00:00Z");
const ANTI_AFFINITY =
  "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.";

interface PodState {
  /** Bound to a Kubernetes node (the scheduler placed it). */
  node?: string;
  scheduled?: V1PodCondition;
  terminating?: boolean;
  /** Rendered from the latest spec even when the others are not (recreated after an edit). */
  current?: boolean;
}

const unschedulable = (message?: string): V1PodCondition => ({
  type: "PodScheduled",
  status: "False",
  reason: "Unschedulable",
  ...(message === undefined ? {} : { message }),
});

/** `podSpec`: the spec the Pods were rendered from, when it is not `spec` (an edit to roll out). */
function observed(spec: RqClusterSpec, states: Record<string, PodState>, podSpec = spec): Observed {
  const view = (s: RqClusterSpec) =>
    clusterView({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: "db", namespace: "ns", uid: "uid-1" },
      spec: s,
    });
  const c = view(spec);
  const old = view(podSpec);
  const members = desiredMembers("db", c.spec.replicas, c.spec.readReplicas);
  const pods = members.map((member) => {
    const pod = renderPod(states[member.name]?.current ? c : old, { member, bootstrapExpect: 3, addressing });
    const s = states[member.name] ?? { node: `node-${member.ordinal}` };
    pod.metadata!.creationTimestamp = new Date(NOW - 10_000);
    if (s.node) pod.spec!.nodeName = s.node;
    if (s.terminating) pod.metadata!.deletionTimestamp = new Date(NOW);
    const ready = Boolean(s.node);
    pod.status = {
      ...(ready ? { podIP: "127.0.0.1" } : {}),
      conditions: [
        s.scheduled ?? { type: "PodScheduled", status: "True" },
        { type: "Ready", status: ready ? "True" : "False" },
      ],
    };
    return pod;
  });
  const running = members.filter((m) => (states[m.name] ?? { node: "x" }).node).map((m) => m.name);
  return {
    cluster: c,
    addressing,
    operatorNamespace: "rqlite-operator-system",
    pods,
    // Bound, as the PV controller leaves them (claims being provisioned are tested below).
    pvcs: pods.flatMap((p) =>
      (p.spec?.volumes ?? []).flatMap((v) =>
        v.persistentVolumeClaim
          ? [{ metadata: { name: v.persistentVolumeClaim.claimName }, status: { phase: "Bound" } }]
          : [],
      ),
    ),
    services: [],
    pdbs: [],
    networkPolicies: [],
    conflicts: [],
    raft: {
      leader: "db-0",
      members: running.map((id) => ({ id, voter: true, reachable: true })),
      canTransfer: true,
    },
    synced: new Set(running),
    unreachableSince: new Map(),
    nodeFailureTimeoutMs: 300_000,
    now: NOW,
  };
}

const REQUIRED: RqClusterSpec = {
  replicas: 4,
  image: "rqlite/rqlite:8.43.4",
  affinity: { podAntiAffinity: "Required" },
};
const PREFERRED: RqClusterSpec = { ...REQUIRED, affinity: { podAntiAffinity: "Preferred" } };

/** The disruptive decision of one plan, as "delete db-3", or undefined. */
const decision = (o: Observed) =>
  plan(o)
    .actions.filter((a) => a.type === "deletePod")
    .map((a) => `delete ${(a as { name: string }).name}`)[0];

describe("plan: Pods the scheduler cannot place", () => {
  const rows: Array<[string, RqClusterSpec, Record<string, PodState>, string[]]> = [
    ["every Pod placed: nothing to say", REQUIRED, {}, []],
    [
      "a 4th voter on 3 nodes with Required anti-affinity: the scheduler's reason and what to change",
      REQUIRED,
      { "db-3": { scheduled: unschedulable(ANTI_AFFINITY) } },
      [
        `Pod db-3 cannot be scheduled: ${ANTI_AFFINITY}; spec.affinity.podAntiAffinity is Required, so each node of the cluster needs a kubernetes.io/hostname of its own: add Kubernetes nodes with another kubernetes.io/hostname, or set it to Preferred`,
      ],
    ],
    [
      "another cause (Preferred): the scheduler's reason alone",
      PREFERRED,
      { "db-3": { scheduled: unschedulable("0/3 nodes are available: 3 Insufficient memory.") } },
      ["Pod db-3 cannot be scheduled: 0/3 nodes are available: 3 Insufficient memory."],
    ],
    [
      "no message from the scheduler",
      REQUIRED,
      { "db-3": { scheduled: unschedulable() } },
      ["Pod db-3 cannot be scheduled: the scheduler gave no reason"],
    ],
    [
      "not yet looked at by the scheduler: no condition, nothing to say",
      REQUIRED,
      { "db-3": { scheduled: { type: "PodScheduled", status: "False", reason: "SchedulingGated" } } },
      [],
    ],
    [
      "a terminating Pod: its replacement will be judged instead",
      REQUIRED,
      { "db-3": { scheduled: unschedulable(ANTI_AFFINITY), terminating: true } },
      [],
    ],
  ];
  for (const [name, spec, states, messages] of rows) {
    it(name, () => {
      const waits = unschedulableWaits(observed(spec, states));
      assert.deepEqual(
        waits.map((w) => w.message),
        messages,
      );
      assert.ok(waits.every((w) => w.reason === "Unschedulable" && w.warning));
    });
  }

  it("is a problem a person must solve: Progressing False with the reason, the rest of the plan still runs", () => {
    const o = observed(REQUIRED, { "db-3": { scheduled: unschedulable(ANTI_AFFINITY) } });
    const p = plan(o);
    const waits = p.waits.filter((w) => PROBLEMS.has(w.reason));
    assert.deepEqual(
      waits.map((w) => w.reason),
      ["Unschedulable"],
    );
    const status = computeStatus(
      o.cluster,
      { observed: o, facts: deriveFacts(o), wasAvailable: true, problems: waits },
      undefined,
      new Date(NOW),
    );
    const progressing = status.conditions!.find((c) => c.type === "Progressing")!;
    assert.equal(progressing.status, "False");
    assert.equal(progressing.reason, "Unschedulable");
    assert.match(progressing.message, /^Pod db-3 cannot be scheduled: 0\/3 nodes are available/);
    assert.equal(status.conditions!.find((c) => c.type === "Available")!.status, "True");
  });
});

describe("plan: an unschedulable Pod and a spec that would let it run", () => {
  const pending = { "db-3": { scheduled: unschedulable(ANTI_AFFINITY) } };

  it("recreates it from the new spec at once, before the roll (which waits for it to be Ready)", () => {
    assert.equal(decision(observed(PREFERRED, pending, REQUIRED)), "delete db-3");
  });

  it("rolls the others meanwhile: their Required terms keep repelling it until they are replaced", () => {
    const recreated = { "db-3": { scheduled: unschedulable(ANTI_AFFINITY), current: true } };
    assert.equal(decision(observed(PREFERRED, recreated, REQUIRED)), "delete db-2");
  });

  it("does not roll past a Pending Pod that is a member: it counts for quorum", () => {
    const o = observed(PREFERRED, { "db-3": { scheduled: unschedulable(ANTI_AFFINITY), current: true } }, REQUIRED);
    o.raft!.members.push({ id: "db-3", voter: true, reachable: false });
    assert.equal(decision(o), undefined);
  });

  it("leaves it alone while the spec is unchanged: recreating it would change nothing", () => {
    assert.equal(decision(observed(REQUIRED, pending)), undefined);
  });

  it("waits while another Pod is terminating: one Pod goes at a time", () => {
    const o = observed(PREFERRED, { ...pending, "db-2": { node: "node-2", terminating: true } }, REQUIRED);
    assert.equal(decision(o), undefined);
  });

  it("never takes a running Pod for one: without a scheduler, Pods have no node but are scheduled", () => {
    const noScheduler = { node: undefined, scheduled: { type: "PodScheduled", status: "True" } };
    const o = observed(PREFERRED, { "db-0": noScheduler, "db-1": noScheduler, "db-2": noScheduler }, REQUIRED);
    for (const p of o.pods) p.status = { ...p.status, podIP: "127.0.0.1" };
    assert.notEqual(decision(o), "delete db-3");
    assert.deepEqual(unschedulableWaits(o), []);
  });
});

describe("plan: a new Pod whose volume is being provisioned", () => {
  const UNBOUND = "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. not found";
  const withClaim = (phase: string, ageMs: number) => {
    const o = observed(REQUIRED, { "db-3": { scheduled: unschedulable(UNBOUND) } });
    const pod = o.pods.find((p) => p.metadata?.name === "db-3")!;
    pod.metadata!.creationTimestamp = new Date(NOW - ageMs);
    o.pvcs = [{ metadata: { name: "db-3" }, status: { phase } }];
    return o;
  };

  it("says nothing while it is young and its claim not yet Bound: the scheduler retries once it is", () => {
    assert.deepEqual(unschedulableWaits(withClaim("Pending", 5_000)), []);
  });

  it("reports it once the claim has stayed unbound too long (no StorageClass provisions it)", () => {
    assert.deepEqual(
      unschedulableWaits(withClaim("Pending", 60_000)).map((w) => w.message),
      [`Pod db-3 cannot be scheduled: ${UNBOUND}`],
    );
  });

  it("says nothing while it is young and the scheduler judged it before the claim was Bound", () => {
    assert.deepEqual(unschedulableWaits(withClaim("Bound", 5_000)), []);
  });

  it("reports a young Pod whose claim is Bound when the reason is another", () => {
    const o = withClaim("Bound", 5_000);
    o.pods.find((p) => p.metadata?.name === "db-3")!.status!.conditions![0] = unschedulable(ANTI_AFFINITY);
    assert.equal(unschedulableWaits(o).length, 1);
  });
});
