// The model test's own test: planners with one rule broken, each of which the invariant checks of
// test/unit/controller/rqcluster/plan.model.test.ts must catch. It runs each mutant for up to a few
// hundred seeded runs, so it lives beside the tests on a control plane rather than in the fast unit
// tier (npm run check); it needs no plane.
import { strict as assert } from "node:assert";
import type { V1Pod } from "@kubernetes/client-node";
import { plan } from "../../controller/rqcluster/plan/index.js";
import { isCrashLooping } from "../../controller/rqcluster/plan/rollout.js";
import { isDisruptive, type Observed, type Plan, type RaftMember } from "../../controller/rqcluster/plan/types.js";
import { BOOTSTRAP_EXPECT_ANNOTATION } from "../../controller/rqcluster/render/pod.js";
import { computeStatus } from "../../controller/rqcluster/status.js";
import { runOne, type Failure } from "../unit/support/plan-model-run.js";

const SEED = Number(process.env.PLAN_MODEL_SEED ?? 20260917);
/** Runs a mutant gets to be caught in; the rarest rules (VS, W4) need a couple of hundred. */
const MUTANT_RUNS = 300;

const nameOf = (p: V1Pod): string => p.metadata!.name!;
const isDesired = (o: Observed, name: string): boolean =>
  /^db-(ro-)?[0-9]+$/.test(name) &&
  Number(name.split("-").pop()) < (name.includes("-ro-") ? o.cluster.spec.readReplicas : o.cluster.spec.replicas);

/**
 * Planners with one rule broken, each by lying to the real planner about what it observed (or by
 * editing its plan): the checks, which see the truth, must catch every one. A check that never
 * fires proves nothing; this shows that each invariant's check is live against this world.
 */
const MUTANTS: Array<{
  breaks: string;
  catches: string[];
  planner?: (o: Observed) => Plan;
  status?: typeof computeStatus;
  liveness?: boolean;
}> = [
  {
    breaks: "writes a status that does not say a Secret is missing (SecretsReady)",
    catches: ["S2"],
    status: (c, inputs, previous, now) =>
      computeStatus(c, { ...inputs, observed: { ...inputs.observed, secretProblems: undefined } }, previous, now),
  },
  {
    breaks: "re-creates no Pod while a Secret the spec names is missing (a Secret gone for good stops the cluster)",
    catches: ["liveness"],
    liveness: true,
    planner: (o) => {
      const p = plan(o);
      if (!o.secretProblems?.length) return p;
      return { ...p, actions: p.actions.filter((a) => a.type !== "create" || a.object.kind !== "Pod") };
    },
  },
  {
    breaks:
      "leaves a leaving member's Pod crash-looping while no leader answers (a broken spec set back with a scale-down waits for itself)",
    catches: ["liveness"],
    liveness: true,
    planner: (o) =>
      plan({
        ...o,
        pods: o.pods.map((p) =>
          isDesired(o, nameOf(p)) ? p : { ...p, status: { ...p.status, containerStatuses: undefined } },
        ),
      }),
  },
  {
    breaks: "replaces a Pod whose status says crash-looping though the leader reaches its rqlite (the status lags)",
    catches: ["I1", "W1", "W2"],
    planner: (o) => {
      const looping = new Set(o.pods.filter(isCrashLooping).map(nameOf));
      const unreached = (m: RaftMember) => (looping.has(m.id) ? { ...m, reachable: false } : m);
      return plan(o.raft ? { ...o, raft: { ...o.raft, members: o.raft.members.map(unreached) } } : o);
    },
  },
  {
    breaks: "does not see a user's second PodDisruptionBudget",
    catches: ["E1"],
    planner: (o) => plan({ ...o, otherPdbs: [] }),
  },
  {
    breaks: "rolls on a follower's word when the leader's membership cannot be read",
    catches: ["I5"],
    planner: (o) =>
      plan(
        o.raft || !o.lastMembers?.length
          ? o
          : {
              ...o,
              raft: {
                leader: o.lastMembers[0]!,
                members: o.lastMembers.map((id) => ({ id, voter: !id.includes("-ro-"), reachable: true })),
                canTransfer: false,
              },
            },
      ),
  },
  {
    breaks: "re-creates Pods from a refused spec.image, not from an image the cluster runs",
    catches: ["W5"],
    planner: (o) => {
      const p = plan(o);
      const image = o.cluster.spec.image;
      const fromSpec = (pod: V1Pod): V1Pod => ({
        ...pod,
        spec: { ...pod.spec!, containers: pod.spec!.containers.map((c) => ({ ...c, image })) },
      });
      return {
        ...p,
        actions: p.actions.map((a) =>
          a.type === "create" && a.object.kind === "Pod" ? { ...a, object: fromSpec(a.object as V1Pod) } : a,
        ),
      };
    },
  },
  {
    breaks: "judges spec.image against the spec, not the versions the Pods run",
    catches: ["VS"],
    planner: (o) =>
      plan({
        ...o,
        pods: o.pods.map((p) => ({
          ...p,
          spec: { ...p.spec!, containers: p.spec!.containers.map((c) => ({ ...c, image: o.cluster.spec.image })) },
        })),
      }),
  },
  {
    breaks: "evicts the roll steps of a 1- or 2-voter cluster (its own budget refuses them for good)",
    catches: ["liveness"],
    liveness: true,
    planner: (o) => {
      const p = plan(o);
      return {
        ...p,
        actions: p.actions.map((a) =>
          a.type === "deletePod" && a.reason === "RollingUpdate" ? { ...a, evict: true } : a,
        ),
      };
    },
  },
  {
    breaks: "does not see that a Pod's rqlite crash-loops (a failed upgrade below quorum waits for itself)",
    catches: ["liveness"],
    liveness: true,
    planner: (o) =>
      plan({
        ...o,
        pods: o.pods.map((p) => ({ ...p, status: { ...p.status, containerStatuses: undefined } })),
      }),
  },
  {
    breaks: "holds every Pod change while a Secret the spec names is missing",
    catches: ["S1"],
    planner: (o) =>
      plan(
        o.secretProblems?.length
          ? { ...o, holds: [...(o.holds ?? []), ...o.secretProblems.map((x) => ({ ...x, warning: true }))] }
          : o,
      ),
  },
  {
    breaks: "goes on changing Pods while a hold stands",
    catches: ["H1"],
    planner: (o) => plan({ ...o, holds: [] }),
  },
  {
    breaks:
      "takes the status's members for the leader's word: deletes a scale-down victim they do not list while no leader answers (a restarted controller's status may be old)",
    catches: ["W4"],
    planner: (o) => {
      const p = plan(o);
      if (o.raft || !o.lastMembers || p.actions.some(isDisruptive)) return p;
      const recorded = new Set(o.lastMembers);
      const victim = o.pods.find(
        (x) => !isDesired(o, nameOf(x)) && !x.metadata?.deletionTimestamp && !recorded.has(nameOf(x)),
      );
      if (!victim) return p;
      const remove = { type: "deletePod" as const, name: nameOf(victim), reason: "Mutant", message: "mutant" };
      return { ...p, actions: [...p.actions, remove] };
    },
  },
  {
    breaks: "skips the settle gate (believes every Pod Ready and caught up)",
    catches: ["I1", "W1"],
    planner: (o) =>
      plan({
        ...o,
        pods: o.pods.map((p) =>
          p.metadata?.deletionTimestamp
            ? p
            : { ...p, status: { ...p.status, conditions: [{ type: "Ready", status: "True" }] } },
        ),
        synced: new Set(o.pods.map(nameOf)),
      }),
  },
  {
    breaks: "replaces a lost node before the timeout",
    catches: ["I6"],
    planner: (o) =>
      plan({
        ...o,
        unreachableSince: new Map([...o.unreachableSince].map(([n]) => [n, o.now - o.nodeFailureTimeoutMs - 1])),
      }),
  },
  {
    breaks: "leaves a healthy rqlite on an unreachable node without a Warning",
    catches: ["I6"],
    planner: (o) => {
      const p = plan(o);
      return { ...p, waits: p.waits.filter((w) => w.reason !== "NodePartitioned") };
    },
  },
  {
    breaks: "forgets to look again when a lost node's timeout expires",
    catches: ["I6-requeue"],
    planner: (o) => ({ ...plan(o), requeueAfterMs: undefined }),
  },
  {
    breaks: "removes a voter while another is unreachable (no quorum check)",
    catches: ["I2", "I7"],
    planner: (o) => {
      const p = plan(o);
      const raft = o.raft;
      if (!raft || p.actions.some(isDisruptive) || !raft.members.some((m) => m.voter && !m.reachable)) return p;
      const victim = raft.members.find((m) => m.voter && m.reachable && m.id !== raft.leader);
      if (!victim) return p;
      const remove = {
        type: "removeFromRaft" as const,
        leader: raft.leader,
        node: victim.id,
        reason: "Mutant",
        message: "",
      };
      return { ...p, actions: [...p.actions, remove] };
    },
  },
  {
    breaks: "takes two disruptive steps at once",
    catches: ["D1"],
    planner: (o) => {
      const p = plan(o);
      const first = p.actions.find(isDisruptive);
      const other = o.pods.find((x) => first?.type !== "deletePod" || nameOf(x) !== first.name);
      if (!first || !other) return p;
      const second = { type: "deletePod" as const, name: nameOf(other), reason: "Mutant", message: "mutant" };
      return { ...p, actions: [...p.actions, second] };
    },
  },
  {
    breaks: "rolls the leader without moving leadership first",
    catches: ["I4"],
    planner: (o) => plan({ ...o, ...(o.raft ? { raft: { ...o.raft, canTransfer: false } } : {}) }),
  },
  {
    breaks: "forgets the bootstrap-expect of the existing Pods and PVCs",
    catches: ["I8"],
    planner: (o) => {
      const forget = <T extends { metadata?: { annotations?: Record<string, string> } }>(x: T): T => {
        const annotations = { ...x.metadata?.annotations };
        delete annotations[BOOTSTRAP_EXPECT_ANNOTATION];
        return { ...x, metadata: { ...x.metadata, annotations } };
      };
      return plan({ ...o, pods: o.pods.map(forget), pvcs: o.pvcs.map(forget) });
    },
  },
  {
    breaks: "does not see a scale in flight (extra Pods and members hidden)",
    catches: ["I5"],
    planner: (o) => {
      const desired = (name: string) => isDesired(o, name);
      return plan({
        ...o,
        pods: o.pods.filter((p) => desired(nameOf(p))),
        ...(o.raft ? { raft: { ...o.raft, members: o.raft.members.filter((m) => desired(m.id)) } } : {}),
      });
    },
  },
  {
    breaks: "deletes a scale-down victim's Pod instead of removing it from Raft first",
    catches: ["I3"],
    planner: (o) => {
      const p = plan(o);
      return {
        ...p,
        actions: p.actions.map((a) =>
          a.type === "removeFromRaft" && o.pods.some((x) => nameOf(x) === a.node)
            ? { type: "deletePod" as const, name: a.node, reason: "Mutant", message: "mutant" }
            : a,
        ),
      };
    },
  },
];

describe("plan model: the invariant checks catch a broken planner", function () {
  // The rarest rules take a couple of hundred runs to meet (MUTANT_RUNS); a liveness mutant's runs
  // are whole (chaos, heal, convergence): the leaving member's took 218 s on a loaded machine.
  this.timeout(600_000);
  for (const m of MUTANTS) {
    it(`catches a planner that ${m.breaks}`, () => {
      let caught: Failure | undefined;
      for (let run = 0; run < MUTANT_RUNS && !caught; run++) {
        caught = runOne(SEED + 1, run, {
          ...(m.planner ? { planner: m.planner } : {}),
          ...(m.status ? { status: m.status } : {}),
          chaosOnly: !m.liveness,
          files: false,
          only: m.catches,
        }).failure;
      }
      assert.ok(caught, "no run caught it");
    });
  }
});
