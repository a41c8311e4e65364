// The planner's randomised model test as one suite over a slice of the seeded runs (see
// ../controller/rqcluster/plan.model.test.ts for what it checks). The runs are split between the
// fast unit tier and test/model/ (the plane tier): npm run check gets a quick first slice, and npm
// test runs every run exactly once across both files.
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runOne, type Failure } from "./plan-model-run.js";

const SEED = Number(process.env.PLAN_MODEL_SEED ?? 20260917);
/** Runs in all, over both slices, and the observed states they must reach together. */
export const MODEL_RUNS = Number(process.env.PLAN_MODEL_RUNS ?? 120);
// About 80 a run (10,405 over the 120 runs of the default seed): both slices must reach their share.
const MIN_STATES = 9_600;
/** The first runs, which the unit tier runs (npm run check); test/model/ runs the others. */
export const UNIT_RUNS = Math.min(16, MODEL_RUNS);
const ONLY_RUN = process.env.PLAN_MODEL_RUN === undefined ? undefined : Number(process.env.PLAN_MODEL_RUN);

/** Invariants a run can fail after the chaos, once the world healed: it must converge and stay. */
const LIVENESS = new Set(["liveness", "steady"]);

/**
 * Runs `from` (inclusive) to `to` (exclusive) of the seeded runs, or only PLAN_MODEL_RUN when it
 * is set (a replay, whichever file runs it). The slice must reach its share of the states.
 */
export function modelSuite(from: number, to: number): void {
  const runs = ONLY_RUN === undefined ? Array.from({ length: to - from }, (_, i) => from + i) : [ONLY_RUN];
  const minStates = Math.floor((MIN_STATES * (to - from)) / MODEL_RUNS);
  describe(`plan model (randomised, issue 9 section 2(b)), runs ${from} to ${to - 1} of ${MODEL_RUNS}`, () => {
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
        const all = join(tmpdir(), `plan-model-${SEED}-${from}-${to}-failures.txt`);
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

    it(`keeps I1..I8, one disruption per plan, W1 and W2 over >= ${minStates} observed states (seed ${SEED})`, () => {
      const unsafe = failures.filter((f) => !LIVENESS.has(f.invariant));
      if (unsafe.length > 0) assert.fail(report(unsafe));
      if (ONLY_RUN === undefined) assert.ok(states >= minStates, `only ${states} observed states`);
    });

    it("converges once the faults stop, then plans nothing", () => {
      const stuck = failures.filter((f) => LIVENESS.has(f.invariant));
      if (stuck.length > 0) assert.fail(report(stuck));
    });
  });
}
