// Table tests of what the operator does when the API server refuses to evict a node's Pod: wait
// for a budget a disruption controller keeps current, delete where none runs; and of how it tells
// whether one runs, and which other budgets select the cluster's Pods.
import { strict as assert } from "node:assert";
import type { V1LabelSelector, V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import {
  afterRefusedEviction,
  disruptionControllerRuns,
  DISRUPTION_CONTROLLER_GRACE_MS,
  EVICTION_REFUSED,
  EVICTION_RETRY_MS,
  isMultipleBudgetsRefusal,
  otherBudgetsOver,
  selects,
} from "../../../../../controller/rqcluster/plan/eviction.js";

const NOW = Date.parse("2026-12-07T12:00:00Z");
const pdb = (
  generation: number | undefined,
  status?: V1PodDisruptionBudget["status"],
  ageMs = 0,
): V1PodDisruptionBudget => ({
  metadata: {
    name: "db",
    creationTimestamp: new Date(NOW - ageMs),
    ...(generation === undefined ? {} : { generation }),
  },
  spec: { minAvailable: 2 },
  ...(status ? { status } : {}),
});
const computed = (
  observedGeneration: number,
  disruptionsAllowed = 0,
  currentHealthy = 3,
): V1PodDisruptionBudget["status"] => ({
  observedGeneration,
  disruptionsAllowed,
  currentHealthy,
  desiredHealthy: 2,
  expectedPods: 3,
});

describe("eviction refused: wait for the budget, or delete where no disruption controller runs", () => {
  const rows: Array<[string, V1PodDisruptionBudget | undefined, boolean | undefined, "delete" | "wait", RegExp]> = [
    ["no disruption controller runs here", pdb(1), false, "delete", /no PodDisruptionBudget here has a status/],
    [
      "the budget is new and none other tells whether one runs: wait, never bypass a drain",
      pdb(1),
      undefined,
      "wait",
      /no status yet, and whether a disruption controller runs cannot be told/,
    ],
    [
      "the budget was just recreated where a disruption controller runs: wait for it",
      pdb(1),
      true,
      "wait",
      /is new and the disruption controller has not computed it yet/,
    ],
    [
      "status older than the spec: a disruption controller runs and has not caught up with an edit",
      pdb(3, computed(2)),
      true,
      "wait",
      /computed for generation 2, not yet for its current 3/,
    ],
    [
      "status current, every voter healthy: a drain took the disruption",
      pdb(3, computed(3)),
      true,
      "wait",
      /allows 0 disruptions \(3 healthy, 2 needed\): a drain or another eviction took/,
    ],
    [
      "status current, a voter not Ready: says so, not a drain",
      pdb(3, computed(3, 0, 2)),
      true,
      "wait",
      /\(2 healthy, 2 needed\): a voter is down or not Ready/,
    ],
    ["the operator's budget is not cached: wait, never bypass", undefined, true, "wait", /has not cached/],
  ];
  for (const [what, budget, runs, want, says] of rows) {
    it(what, () => {
      const next = afterRefusedEviction("db-2", budget, runs);
      assert.equal(next.do, want);
      assert.match(next.do === "delete" ? next.why : next.message, says);
      if (next.do === "wait") {
        assert.equal(next.reason, EVICTION_REFUSED);
        assert.equal(next.retryAfterMs, EVICTION_RETRY_MS);
        assert.match(next.message, /^eviction of Pod db-2 refused/);
      } else {
        assert.match(next.why, /deleted the Pod instead$/);
      }
    });
  }
});

describe("whether a disruption controller runs, judged over every budget", () => {
  const other = (status?: V1PodDisruptionBudget["status"], ageMs = 0) => ({
    ...pdb(1, status, ageMs),
    metadata: { ...pdb(1, status, ageMs).metadata, name: "other" },
  });
  it("runs: any budget was computed, even when the cluster's own was just recreated", () => {
    assert.equal(disruptionControllerRuns([pdb(1), other(computed(1), 600_000)], NOW), true);
  });
  it("runs: one computed budget seen earlier stands, whatever the cache holds now", () => {
    assert.equal(disruptionControllerRuns([pdb(1, undefined, 600_000)], NOW, true), true);
  });
  it("cannot tell while every budget is younger than the grace, however many", () => {
    assert.equal(
      disruptionControllerRuns([pdb(1), other(undefined, DISRUPTION_CONTROLLER_GRACE_MS - 1)], NOW),
      undefined,
    );
    assert.equal(disruptionControllerRuns([], NOW), undefined);
  });
  it("does not run: no budget computed though one has waited past the grace", () => {
    assert.equal(disruptionControllerRuns([pdb(1), other(undefined, DISRUPTION_CONTROLLER_GRACE_MS)], NOW), false);
  });
});

describe("other budgets over the cluster's Pods", () => {
  const labels = { "app.kubernetes.io/instance": "db", "rqlite.io/role": "voter" };
  const rows: Array<[string, V1LabelSelector | undefined, boolean]> = [
    ["matchLabels subset", { matchLabels: { "app.kubernetes.io/instance": "db" } }, true],
    ["matchLabels with another value", { matchLabels: { "app.kubernetes.io/instance": "other" } }, false],
    ["an empty selector selects every Pod (policy/v1)", {}, true],
    ["no selector selects nothing", undefined, false],
    ["In", { matchExpressions: [{ key: "rqlite.io/role", operator: "In", values: ["voter"] }] }, true],
    ["NotIn", { matchExpressions: [{ key: "rqlite.io/role", operator: "NotIn", values: ["voter"] }] }, false],
    ["Exists", { matchExpressions: [{ key: "rqlite.io/role", operator: "Exists" }] }, true],
    ["DoesNotExist", { matchExpressions: [{ key: "rqlite.io/role", operator: "DoesNotExist" }] }, false],
    ["an unknown operator selects nothing", { matchExpressions: [{ key: "x", operator: "Gt", values: ["1"] }] }, false],
  ];
  for (const [what, selector, want] of rows) it(what, () => assert.equal(selects(selector, labels), want));

  it("names the budgets that select any Pod, sorted", () => {
    const pod: V1Pod = { metadata: { name: "db-0", labels } };
    const budget = (name: string, selector: V1LabelSelector): V1PodDisruptionBudget => ({
      metadata: { name },
      spec: { selector },
    });
    const found = otherBudgetsOver(
      [pod],
      [
        budget("z-mine", {}),
        budget("a-mine", { matchLabels: labels }),
        budget("elsewhere", { matchLabels: { a: "b" } }),
      ],
    );
    assert.deepEqual(found, ["a-mine", "z-mine"]);
  });

  it("knows the API server's refusal by several budgets", () => {
    const msg = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";
    assert.equal(isMultipleBudgetsRefusal(500, msg), true);
    assert.equal(isMultipleBudgetsRefusal(429, msg), false);
    assert.equal(isMultipleBudgetsRefusal(500, "etcd timeout"), false);
  });
});
