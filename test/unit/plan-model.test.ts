// The planner's randomised model test (issue 9, section 2(b)). A seeded simulator of one
// RqCluster's world (support/plan-world.ts) is driven through faults and user edits; on every
// step the planner sees what a reconcile would observe, and every Plan it returns is checked
// against the safety invariants I1..I8 (controller/rqcluster/plan/invariants.ts) before the world applies it.
// The world itself checks that the operator never has more than one voter down (W1), nor breaks
// a quorum it could keep (W2), nor takes a second voter down beside a drain (W3), nor deletes a
// scale-down Pod whose node is still a Raft member, whatever a stale status said (W4). A hold
// changes no Pod (H1); a missing Secret changes no decision (S1). Faults include Pods that never
// get Ready, Secrets that disappear, controller restarts fed an old status, applies that fail
// part-way and holds. After the chaos every run heals and must converge (liveness), and a
// converged cluster must plan nothing (a steady cluster costs no writes).
//
// Replay: PLAN_MODEL_SEED=<seed> PLAN_MODEL_RUN=<run> npx mocha test/unit/plan-model.test.ts
// (a failure prints both, with the world's recent history, the observation and the plan; the
// full observation is also written as JSON to the file it names).
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import { plan } from "../../controller/rqcluster/plan/index.js";
import { isDisruptive, type Observed, type Plan } from "../../controller/rqcluster/plan/types.js";
import { BOOTSTRAP_EXPECT_ANNOTATION } from "../../controller/rqcluster/render/pod.js";
import { runOne, type Failure } from "./support/plan-model-run.js";

const SEED = Number(process.env.PLAN_MODEL_SEED ?? 20260917);
const RUNS = Number(process.env.PLAN_MODEL_RUNS ?? 120);
const ONLY_RUN = process.env.PLAN_MODEL_RUN === undefined ? undefined : Number(process.env.PLAN_MODEL_RUN);
const MIN_STATES = 10_000;
/** Runs a mutant gets to be caught in; the rarest rules (VS, W4) need a couple of hundred. */
const MUTANT_RUNS = 300;

/** Invariants a run can fail after the chaos, once the world healed: it must converge and stay. */
const LIVENESS = new Set(["liveness", "steady"]);

describe("plan model (randomised, issue 9 section 2(b))", () => {
  const runs = ONLY_RUN === undefined ? Array.from({ length: RUNS }, (_, i) => i) : [ONLY_RUN];
  const failures: Array<{ run: number } & Failure> = [];
  let states = 0;

  before(function () {
    // A minute alone; a loaded machine (2 cores shared) takes several.
    this.timeout(600_000);
    const started = Date.now();
    const stats = new Map<string, number>();
    for (const run of runs) {
      const r = runOne(SEED, run, { stats });
      states += r.states;
      if (r.failure) failures.push({ run, ...r.failure });
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`      seed ${SEED}, ${runs.length} runs, ${states} observed states, ${seconds} s`);
    const exercised = [...stats].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => `${k}: ${n}`);
    console.log(`      planned: ${exercised.join(", ")}`);
    if (failures.length > 0) {
      const all = join(tmpdir(), `plan-model-${SEED}-failures.txt`);
      writeFileSync(all, failures.map((f) => `##### run ${f.run}\n${f.report}`).join("\n\n"));
      console.log(`      every failure report: ${all}`);
    }
  });

  /** The first failure of each invariant in full; the other runs that failed it, by number. */
  const report = (fs: typeof failures) => {
    const byInvariant = new Map<string, typeof failures>();
    for (const f of fs) byInvariant.set(f.invariant, [...(byInvariant.get(f.invariant) ?? []), f]);
    const text = [...byInvariant].map(
      ([inv, list]) => `=== ${inv}: ${list.length} run(s): ${list.map((f) => f.run).join(",")}\n${list[0]!.report}`,
    );
    return `${fs.length} of ${runs.length} runs failed (seed ${SEED})\n${text.join("\n\n")}`;
  };

  it(`keeps I1..I8, one disruption per plan, W1 and W2 over >= ${MIN_STATES} observed states (seed ${SEED})`, () => {
    const unsafe = failures.filter((f) => !LIVENESS.has(f.invariant));
    if (unsafe.length > 0) assert.fail(report(unsafe));
    if (ONLY_RUN === undefined) assert.ok(states >= MIN_STATES, `only ${states} observed states`);
  });

  it("converges once the faults stop, then plans nothing", () => {
    const stuck = failures.filter((f) => LIVENESS.has(f.invariant));
    if (stuck.length > 0) assert.fail(report(stuck));
  });
});

const nameOf = (p: V1Pod): string => p.metadata!.name!;
const isDesired = (o: Observed, name: string): boolean =>
  /^db-(ro-)?[0-9]+$/.test(name) &&
  Number(name.split("-").pop()) < (name.includes("-ro-") ? o.cluster.spec.readReplicas : o.cluster.spec.replicas);

/**
 * Planners with one rule broken, each by lying to the real planner about what it observed (or by
 * editing its plan): the checks, which see the truth, must catch every one. A check that never
 * fires proves nothing; this shows that each invariant's check is live against this world.
 */
const MUTANTS: Array<{ breaks: string; catches: string[]; planner: (o: Observed) => Plan; liveness?: boolean }> = [
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
  // The rarest rules take a couple of hundred runs to meet (MUTANT_RUNS).
  this.timeout(300_000);
  for (const m of MUTANTS) {
    it(`catches a planner that ${m.breaks}`, () => {
      let caught: Failure | undefined;
      for (let run = 0; run < MUTANT_RUNS && !caught; run++) {
        caught = runOne(SEED + 1, run, {
          planner: m.planner,
          chaosOnly: !m.liveness,
          files: false,
          only: m.catches,
        }).failure;
      }
      assert.ok(caught, "no run caught it");
    });
  }
});
