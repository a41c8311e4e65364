// Table tests of what the operator does when the API server refuses to evict a node's Pod: wait
// for a budget a disruption controller keeps current, delete where none computes it.
import { strict as assert } from "node:assert";
import type { V1PodDisruptionBudget } from "@kubernetes/client-node";
import { afterRefusedEviction, EVICTION_REFUSED, EVICTION_RETRY_MS } from "../../controller/rqcluster/plan/eviction.js";

const pdb = (generation: number | undefined, status?: V1PodDisruptionBudget["status"]): V1PodDisruptionBudget => ({
  metadata: { name: "db", ...(generation === undefined ? {} : { generation }) },
  spec: { minAvailable: 2 },
  ...(status ? { status } : {}),
});
const computed = (observedGeneration: number, disruptionsAllowed = 0): V1PodDisruptionBudget["status"] => ({
  observedGeneration,
  disruptionsAllowed,
  currentHealthy: 2,
  desiredHealthy: 2,
  expectedPods: 3,
});

describe("eviction refused: wait for the budget, or delete where no disruption controller runs", () => {
  const rows: Array<[string, V1PodDisruptionBudget | undefined, "delete" | "wait", RegExp]> = [
    ["no status at all (a plane without a disruption controller)", pdb(1), "delete", /no status\.observedGeneration/],
    [
      "status without observedGeneration",
      pdb(1, { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 }),
      "delete",
      /no status\.observedGeneration for metadata\.generation 1/,
    ],
    [
      "status older than the spec: a disruption controller runs and has not caught up with an edit",
      pdb(3, computed(2)),
      "wait",
      /computed for generation 2, not yet for its current 3/,
    ],
    [
      "status current: the budget refuses (a drain holds it)",
      pdb(3, computed(3)),
      "wait",
      /allows 0 disruptions \(2 healthy, 2 needed\)/,
    ],
    ["status current and no generation on the object", pdb(undefined, computed(1)), "wait", /allows 0 disruptions/],
    ["the operator's budget is not cached: wait, never bypass", undefined, "wait", /has not cached/],
  ];
  for (const [what, budget, want, says] of rows) {
    it(what, () => {
      const next = afterRefusedEviction("db-2", budget);
      assert.equal(next.do, want);
      assert.match(next.do === "delete" ? next.why : next.message, says);
      if (next.do === "wait") {
        assert.equal(next.reason, EVICTION_REFUSED);
        assert.equal(next.retryAfterMs, EVICTION_RETRY_MS);
        assert.match(next.message, /^eviction of Pod db-2 refused/);
      } else {
        assert.match(next.why, /PodDisruptionBudget db .*deleted the Pod instead$/);
      }
    });
  }
});
