// The planner's randomised model test (issue 9, section 2(b)). A seeded simulator of one
// RqCluster's world (support/plan-world.ts) is driven through faults and user edits; on every
// step the planner sees what a reconcile would observe, and every Plan it returns is checked
// against the safety invariants I1..I8 (controller/rqcluster/plan/invariants.ts) before the world applies it.
// The world itself checks that the operator never has more than one voter down (W1), nor breaks
// a quorum it could keep (W2), nor takes a second voter down beside a drain (W3), nor deletes a
// scale-down Pod whose node is still a Raft member, whatever a stale status said (W4), nor makes
// a Pod on a version some running Pod cannot step to, as a refused spec.image would (W5). A hold
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
import { runOne, type Failure } from "./support/plan-model-run.js";

const SEED = Number(process.env.PLAN_MODEL_SEED ?? 20260917);
const RUNS = Number(process.env.PLAN_MODEL_RUNS ?? 120);
const ONLY_RUN = process.env.PLAN_MODEL_RUN === undefined ? undefined : Number(process.env.PLAN_MODEL_RUN);
const MIN_STATES = 10_000;

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
