// The driver of the planner's model test (../controller/rqcluster/plan.model.test.ts): one run
// builds a random world, drives it through faults and edits with plan() deciding every step,
// checks every Plan against the invariants and the world against W1/W2, then heals it and
// requires convergence. Separate from the test file so that a profiler or a script can run one
// seed alone.
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { plan } from "../../../controller/rqcluster/plan/index.js";
import type { computeStatus } from "../../../controller/rqcluster/status.js";
import type { Observed, Plan } from "../../../controller/rqcluster/plan/types.js";
import {
  checkPlan,
  describeObserved,
  describePlan,
  type Violation,
} from "../../../controller/rqcluster/plan/invariants.js";
import {
  deepFreeze,
  IMAGES,
  Rng,
  runSeed,
  World,
  type RunOptions as WorldOptions,
  type SimSpec,
} from "./plan-world.js";

/** Steps of faults and edits per run. */
const CHAOS_STEPS = 60;
/** Steps a healed world may take to converge: a full roll of 9 nodes plus a scale fits easily. */
const LIVENESS_STEPS = 300;
/** Reconciles a converged cluster gets to stop writing (two in a row must plan nothing). */
const STEADY_STEPS = 4;
/** The planner is pure: the same observation gives the same plan (checked on a sample of steps). */
const PURITY_EVERY = 7;
/** A missing Secret changes no decision (S1), checked on a sample of the steps that have one. */
const S1_EVERY = 3;

export interface Failure {
  /** The first invariant that failed, which names the failure. */
  invariant: string;
  /** Every invariant that failed on that plan. */
  all: string[];
  report: string;
}

export interface RunResult {
  states: number;
  failure?: Failure;
}

export interface RunOptions {
  /** The planner under test; a mutant in the checker's self-test. */
  planner?: (o: Observed) => Plan;
  /** Stop after the chaos: no healing, no liveness (the self-test only looks for violations). */
  chaosOnly?: boolean;
  /** Counts of planned actions and waits, to show what the runs exercised. */
  stats?: Map<string, number>;
  /** Report only these invariants and carry on past the others (a mutant's run, whatever else the planner gets wrong). */
  only?: string[];
  /** Write the failing observation as JSON to a temporary file. */
  files?: boolean;
  /** The status a reconcile computes; a mutant in the checker's self-test. */
  status?: typeof computeStatus;
}

/** What a plan did, for the statistics: one key per action kind and per wait reason. */
function tally(stats: Map<string, number>, p: Plan): void {
  const add = (k: string) => stats.set(k, (stats.get(k) ?? 0) + 1);
  for (const a of p.actions) {
    if (a.type === "create" || a.type === "apply" || a.type === "delete" || a.type === "patch") {
      add(`${a.type} ${a.type === "create" || a.type === "apply" ? a.object.kind : a.target.kind}`);
    } else add(a.type === "deletePod" && a.force ? "deletePod (force)" : a.type);
  }
  for (const w of p.waits) add(`wait ${w.reason}`);
}

/** The clock between two reconciles: mostly seconds (watch events, requeues), sometimes a resync. */
function advance(w: World): void {
  w.now += w.rng.pick([1000, 2000, 2000, 5000, 10_000, 15_000, 30_000]);
}

function randomRun(rng: Rng): World {
  const opts: WorldOptions = {
    canTransfer: { [IMAGES[0]]: rng.chance(0.7), [IMAGES[1]]: rng.chance(0.7) },
    nodeFailureTimeoutMs: rng.pick([30_000, 60_000, 120_000]),
    evictAfterMs: rng.chance(0.3) ? 300_000 : undefined,
    cacheLag: rng.pick([0, 0.1, 0.3]),
    disruptionController: rng.chance(0.7),
  };
  const spec: SimSpec = {
    replicas: rng.int(1, 7),
    readReplicas: rng.int(0, 2),
    image: rng.pick(IMAGES),
    rev: rng.int(0, 1),
    hostile: false,
  };
  const expects = [1, 3, 5, 7].filter((n) => n <= spec.replicas);
  const w = rng.chance(0.15)
    ? World.fresh(rng, opts, spec)
    : World.converged(rng, opts, spec, rng.chance(0.5) ? spec.replicas : rng.pick(expects));
  w.applyFailure = rng.pick([0, 0.05, 0.2]);
  return w;
}

/** One run: chaos, heal, converge, stay steady. `base` and `run` name it for a replay. */
export function runOne(base: number, run: number, options: RunOptions = {}): RunResult {
  const { planner = plan, chaosOnly = false, stats, files = true, only, status } = options;
  const counts = (invariant: string) => only === undefined || only.includes(invariant);
  const seed = runSeed(base, run);
  const rng = new Rng(seed);
  const w = randomRun(rng);
  if (status) w.statusOf = status;
  let states = 0;
  let last: { observed: Observed; plan: Plan } | undefined;

  const failure = (
    invariant: string,
    detail: string,
    phase: string,
    o?: Observed,
    p?: Plan,
    all: string[] = [invariant],
  ): Failure => {
    const file = join(tmpdir(), `plan-model-${base}-${run}-${w.step}.json`);
    if (o && files) {
      const replacer = (_k: string, v: unknown) =>
        v instanceof Set
          ? [...(v as Set<unknown>)]
          : v instanceof Map
            ? Object.fromEntries(v as Map<string, unknown>)
            : v;
      writeFileSync(file, JSON.stringify({ observed: { ...o, addressing: "static" }, plan: p }, replacer, 2));
    }
    const report = [
      `${invariant}: ${detail}`,
      `seed=${base} run=${run} (run seed ${seed}) step=${w.step} phase=${phase}`,
      `replay: PLAN_MODEL_SEED=${base} PLAN_MODEL_RUN=${run} npx mocha test/unit/controller/rqcluster/plan.model.test.ts`,
      "history (latest last):",
      ...w.history.slice(-25).map((h) => `  ${h}`),
      w.describe(),
      ...(o ? ["observed:", describeObserved(o)] : []),
      ...(p ? ["plan:", describePlan(p)] : []),
      ...(o && files ? [`full observation and plan: ${file}`] : []),
    ].join("\n");
    return { invariant, all, report };
  };

  const step = (phase: string, chaos: boolean): Failure | undefined => {
    advance(w);
    w.tick();
    // A fresh cluster bootstraps first: an edit before that only wedges rqlite's -bootstrap-expect.
    if (chaos) w.fault(w.bootstrapped);
    // Once healed, the user answers an UpgradeRefused condition by setting an image every Pod can take.
    else w.fixSpec();
    const { observed } = w.observe();
    deepFreeze(observed);
    let p: Plan;
    try {
      p = planner(observed);
    } catch (err) {
      return failure("plan threw", (err as Error).stack ?? String(err), phase, observed);
    }
    states++;
    if (states % PURITY_EVERY === 0) {
      try {
        assert.deepStrictEqual(planner(observed), p);
      } catch {
        return failure("pure", "the same observation gave a different plan", phase, observed, p);
      }
    }
    // S1: a Secret the spec names that is missing disables only the feature that needs it (shown
    // in SecretsReady); it changes no decision about Pods, volumes or Raft members.
    // Checked on a sample of steps, as purity is: each check plans twice.
    if (observed.secretProblems?.length && states % S1_EVERY === 0 && counts("S1")) {
      const without = { ...observed };
      delete without.secretProblems;
      try {
        assert.deepStrictEqual(p, planner(deepFreeze(without)));
      } catch {
        const why = `the plan differs with ${observed.secretProblems.map((x) => x.reason).join(", ")} from the plan without`;
        return failure("S1", why, phase, observed, p);
      }
    }
    if (stats) tally(stats, p);
    const violations: Violation[] = checkPlan(observed, p).filter((v) => counts(v.invariant));
    if (violations.length > 0) {
      const v = violations[0]!;
      const more = violations.slice(1).map((x) => `\n  also ${x.invariant}: ${x.detail}`);
      const all = violations.map((x) => x.invariant);
      return failure(v.invariant, v.detail + more.join(""), phase, observed, p, all);
    }
    w.apply(p, observed);
    last = { observed, plan: p };
    const world = w.violations.filter((v) => counts(v.slice(0, 2)));
    w.violations = [];
    if (world.length > 0) return failure(world[0]!.slice(0, 2), world.join("; "), phase, observed, p);
    return undefined;
  };

  for (let i = 0; i < CHAOS_STEPS; i++) {
    const f = step("chaos", true);
    if (f) return { states, failure: f };
  }
  if (chaosOnly) return { states };
  w.heal();
  // A last edit from a clean world half of the time: scale, roll or both, as a user would.
  if (w.bootstrapped && rng.chance(0.5)) {
    w.randomEdit(true);
    w.fixSpec();
  }
  let converged = false;
  for (let i = 0; i < LIVENESS_STEPS && !converged; i++) {
    const f = step("liveness", false);
    if (f) return { states, failure: f };
    converged = w.notConverged() === undefined;
  }
  if (!converged) {
    return {
      states,
      failure: failure(
        "liveness",
        `not converged ${LIVENESS_STEPS} steps after healing: ${w.notConverged()}`,
        "liveness",
        last?.observed,
        last?.plan,
      ),
    };
  }
  // Converged: the reconciles that follow change nothing (no writes, no Raft change, no Pod),
  // once one reconcile has caught up with the last step (a PDB follows the Raft voters a step late).
  let quiet = 0;
  for (let i = 0; i < STEADY_STEPS && quiet < 2; i++) {
    const f = step("steady", false);
    if (f) return { states, failure: f };
    const unsettled = w.notConverged();
    if (unsettled) {
      const why = `the operator disturbed a converged cluster: ${unsettled}`;
      return { states, failure: failure("steady", why, "steady", last?.observed, last?.plan) };
    }
    quiet = last && last.plan.actions.length > 0 ? 0 : quiet + 1;
  }
  if (quiet < 2) {
    const why = `a converged cluster still plans actions after ${STEADY_STEPS} reconciles`;
    return { states, failure: failure("steady", why, "steady", last?.observed, last?.plan) };
  }
  return { states };
}
