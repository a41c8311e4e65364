import { strict as assert } from "node:assert";
import { invalidSpecStatus, statusPatch } from "../../../../controller/rqcluster/status.js";
import type { RqClusterStatus } from "../../../../shared/index.js";

describe("status of a spec the controller refuses", () => {
  const now = new Date("2026-12-07T12:00:00Z");
  const previous: RqClusterStatus = {
    phase: "Running",
    readyReplicas: 3,
    conditions: [
      {
        type: "Available",
        status: "True",
        reason: "QuorumReady",
        message: "",
        lastTransitionTime: "2026-12-01T00:00:00Z",
      },
      {
        type: "Degraded",
        status: "False",
        reason: "AllNodesReady",
        message: "",
        lastTransitionTime: "2026-12-01T00:00:00Z",
      },
    ],
  };

  it("keeps what was observed and says why nothing is done in Progressing and Degraded", () => {
    const message = 'RqCluster.rqlite.io "db" is invalid: spec.auth.secretName: Invalid value: "../x": ...';
    const next = invalidSpecStatus({ generation: 4 }, message, previous, now);
    assert.equal(next.phase, "Running");
    assert.equal(next.readyReplicas, 3);
    const byType = new Map(next.conditions!.map((c) => [c.type, c]));
    assert.deepEqual(byType.get("Available"), previous.conditions![0]);
    assert.deepEqual(byType.get("Degraded"), {
      type: "Degraded",
      status: "True",
      reason: "InvalidSpec",
      message,
      observedGeneration: 4,
      lastTransitionTime: "2026-12-07T12:00:00Z",
    });
    assert.equal(byType.get("Progressing")?.status, "False");
    // Written once: the same refusal again is no write.
    assert.equal(statusPatch(next, invalidSpecStatus({ generation: 4 }, message, next, now)), undefined);
  });
});
