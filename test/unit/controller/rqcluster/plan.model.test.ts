// The planner's randomised model test (issue 9, section 2(b)). A seeded simulator of one
// RqCluster's world (support/plan-world.ts) is driven through faults and user edits; on every
// step the planner sees what a reconcile would observe, and every Plan it returns is checked
// against the safety invariants I1..I8 (controller/rqcluster/plan/invariants.ts) before the world applies it.
// The world itself checks that the operator never has more than one voter down (W1), nor breaks
// a quorum it could keep (W2), nor takes a second voter down beside a drain (W3), nor deletes a
// scale-down Pod whose node is still a Raft member, whatever a stale status said (W4), nor makes
// a Pod on a version some running Pod cannot step to, as a refused spec.image would (W5). A hold
// changes no Pod (H1); a missing Secret changes no decision (S1), and the status the product
// computes after each reconcile names it in SecretsReady (S2). Faults include Pods that never get
// Ready (an image, or a template the user later sets back), Secrets that disappear (some for
// good: the cluster must converge without them), controller restarts fed an old status (the
// plan reads status.members and status.images back from the status computeStatus wrote, which
// a reconcile that created children does not write), applies that fail part-way (the failing
// request landing or not) and holds. After the chaos every run heals and must converge
// (liveness), and a converged cluster must plan nothing (a steady cluster costs no writes).
//
// Replay: PLAN_MODEL_SEED=<seed> PLAN_MODEL_RUN=<run>
// npx mocha test/unit/controller/rqcluster/plan.model.test.ts replays any run, whichever file ran
// it (a failure prints both, with the world's recent history, the observation and the plan; the
// full observation is also written as JSON to the file it names).
import { modelSuite, UNIT_RUNS } from "../../support/plan-model-suite.js";

// The first runs here, for npm run check; every other run in test/model/plan-model.test.ts.
modelSuite(0, UNIT_RUNS);
