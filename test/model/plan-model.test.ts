// The rest of the planner's model test (test/unit/controller/rqcluster/plan.model.test.ts says what
// it checks): the unit tier runs the first runs for a quick gate, this file every other run of the
// same seed, so npm test runs each run once. It needs no plane; it runs in the plane tier for its
// time.
import { MODEL_RUNS, modelSuite, UNIT_RUNS } from "../unit/support/plan-model-suite.js";

modelSuite(UNIT_RUNS, MODEL_RUNS);
