// The e2e invariant monitor's rules (testenv/invariants.ts) on hand-made sample sequences: it must
// catch the unsafe transitions and stay quiet on the safe ones, or the e2e verdicts mean nothing.
import { strict as assert } from "node:assert";
import { InvariantChecker, type PodState, type RaftState, type Sample } from "../../../testenv/invariants.js";

const ready = (name: string, uid = `${name}-a`): PodState => ({ name, uid, ready: true, terminating: false });
const notReady = (name: string, uid = `${name}-a`): PodState => ({ name, uid, ready: false, terminating: false });
const terminating = (name: string, uid = `${name}-a`): PodState => ({ name, uid, ready: false, terminating: true });
const raft = (leader: string, voters: string[], unreachable: string[] = []): RaftState => ({
  leader,
  members: voters.map((id) => ({ id, voter: true, reachable: !unreachable.includes(id) })),
});
const three = ["c-0", "c-1", "c-2"];

function run(samples: Array<Omit<Sample, "t" | "alive"> & { alive?: string[] }>, allowance = 0, faults: string[] = []) {
  const checker = new InvariantChecker({ cluster: "c", allowance });
  samples.forEach((s, i) => {
    if (i === 1) for (const f of faults) checker.fault(f, i * 100);
    checker.observe({ alive: [], ...s, t: i * 100 });
  });
  return checker;
}

describe("e2e invariant rules", () => {
  it("passes a roll that takes one voter down at a time", () => {
    const c = run([
      { replicas: 3, pods: three.map((n) => ready(n)), raft: raft("c-2", three) },
      { replicas: 3, pods: [ready("c-1"), ready("c-2")], raft: raft("c-2", three, ["c-0"]) },
      { replicas: 3, pods: [notReady("c-0", "c-0-b"), ready("c-1"), ready("c-2")], raft: raft("c-2", three) },
      { replicas: 3, pods: [ready("c-0", "c-0-b"), ready("c-1"), ready("c-2")], raft: raft("c-2", three) },
      { replicas: 3, pods: [ready("c-0", "c-0-b"), ready("c-2")], raft: raft("c-2", three) },
    ]);
    assert.deepEqual(c.violations, []);
    assert.equal(c.maxVotersDown, 1);
    assert.deepEqual(
      c.wentDown.map((d) => d.name),
      ["c-0", "c-1"],
    );
  });

  it("flags the measured roll bug: a second voter deleted while the first one's replacement is not Ready", () => {
    const c = run([
      { replicas: 3, pods: three.map((n) => ready(n)), raft: raft("c-2", three) },
      { replicas: 3, pods: [ready("c-1"), ready("c-2")], raft: raft("c-2", three) },
      { replicas: 3, pods: [notReady("c-0", "c-0-b"), ready("c-2")] },
    ]);
    assert.deepEqual(
      c.violations.map((v) => v.invariant),
      ["V1", "V1"],
    );
    assert.match(c.violations[1]!.message, /c-1 went down while c-0 was down/);
  });

  it("does not count voters that are alive but without a leader for a moment", () => {
    const c = run([
      { replicas: 3, pods: three.map((n) => ready(n)), raft: raft("c-0", three) },
      { replicas: 3, pods: [notReady("c-0"), notReady("c-1"), notReady("c-2")], alive: ["c-1", "c-2"] },
      { replicas: 3, pods: [notReady("c-0"), ready("c-1"), ready("c-2")], raft: raft("c-1", three, ["c-0"]) },
    ]);
    assert.deepEqual(c.violations, []);
    assert.equal(c.maxVotersDown, 1);
  });

  it("a new Pod counts as down until Ready, alive or not", () => {
    const c = run([
      { replicas: 3, pods: three.map((n) => ready(n)), raft: raft("c-0", three) },
      { replicas: 3, pods: [ready("c-0"), notReady("c-1", "c-1-b"), notReady("c-2")], alive: ["c-1", "c-2"] },
    ]);
    assert.deepEqual(c.violations, []);
    assert.equal(c.maxVotersDown, 1, "c-1's new Pod is down; c-2 is alive");
  });

  it("counts desired voters only once they have existed, so a scale-up is not a violation", () => {
    const c = run([
      { replicas: 5, pods: three.map((n) => ready(n)), raft: raft("c-0", three) },
      { replicas: 5, pods: [...three.map((n) => ready(n)), notReady("c-3")], raft: raft("c-0", three) },
      { replicas: 5, pods: [...three.map((n) => ready(n)), ready("c-3")], raft: raft("c-0", [...three, "c-3"]) },
    ]);
    assert.deepEqual(c.violations, []);
    assert.equal(c.maxVotersDown, 1);
  });

  it("does not count a member that joined between the Pod list and the leader's answer as down", () => {
    const four = [...three, "c-3"];
    const c = run([
      { replicas: 4, pods: three.map((n) => ready(n)), raft: raft("c-0", three) },
      { replicas: 4, pods: [...three.map((n) => ready(n)), notReady("c-3")], raft: raft("c-0", three) },
      // c-3's Pod in a list older than the leader's view, which has c-3 Ready and joined: the
      // operator added c-4, whose Pod is not listed yet.
      { replicas: 5, pods: [...three.map((n) => ready(n)), notReady("c-3")], raft: raft("c-0", [...four, "c-4"]) },
      { replicas: 5, pods: [...four.map((n) => ready(n)), notReady("c-4")], raft: raft("c-0", [...four, "c-4"]) },
    ]);
    assert.deepEqual(c.violations, []);
    const lost = run([
      { replicas: 3, pods: three.map((n) => ready(n)), raft: raft("c-0", three) },
      { replicas: 3, pods: [ready("c-0"), ready("c-1")], raft: raft("c-0", three) },
    ]);
    assert.equal(lost.maxVotersDown, 1, "a member listed in the first view and missing its Pod is down");
  });

  it("lets the test's own fault be down with the operator's one, but not the operator add a second", () => {
    const fine = run(
      [
        { replicas: 3, pods: three.map((n) => ready(n)), raft: raft("c-2", three) },
        { replicas: 3, pods: [ready("c-1"), ready("c-2")], raft: raft("c-2", three) },
        { replicas: 3, pods: [ready("c-1"), notReady("c-2")], alive: ["c-1"] },
      ],
      1,
      ["c-2"],
    );
    assert.deepEqual(fine.violations, []);
    assert.equal(fine.maxVotersDown, 2);

    const added = run(
      [
        { replicas: 3, pods: three.map((n) => ready(n)), raft: raft("c-2", three) },
        { replicas: 3, pods: [ready("c-0"), ready("c-1"), notReady("c-2")], raft: raft("c-1", three, ["c-2"]) },
        { replicas: 3, pods: [ready("c-1"), notReady("c-2")], raft: raft("c-1", three, ["c-0", "c-2"]) },
      ],
      1,
      ["c-2"],
    );
    assert.deepEqual(
      added.violations.map((v) => v.message),
      ["c-0 went down while c-2 was down"],
    );
  });

  it("counts the test's fault from the moment its node stops answering, before its Pod shows it", () => {
    const c = run(
      [
        { replicas: 3, pods: three.map((n) => ready(n)), raft: raft("c-2", three) },
        { replicas: 3, pods: three.map((n) => ready(n)), raft: raft("c-2", three), unresponsive: ["c-1"] },
        { replicas: 3, pods: [ready("c-1"), ready("c-2")], raft: raft("c-2", three), unresponsive: ["c-1"] },
      ],
      1,
      ["c-1"],
    );
    assert.deepEqual(
      c.violations.map((v) => v.message),
      ["c-0 went down while c-1 was down"],
    );
  });

  it("does not blame the operator for a step the test's fault may have followed within one sample", () => {
    const c = run(
      [
        { replicas: 3, pods: three.map((n) => ready(n)), raft: raft("c-1", three) },
        { replicas: 3, pods: [ready("c-0"), ready("c-1"), notReady("c-2")], unresponsive: ["c-1"] },
      ],
      1,
      ["c-1"],
    );
    assert.deepEqual(c.violations, []);
    assert.equal(c.maxVotersDown, 2);
  });

  it("flags a removal that leaves fewer reachable voters than the new configuration's quorum", () => {
    const five = [...three, "c-3", "c-4"];
    const c = run([
      { replicas: 3, pods: five.map((n) => ready(n)), raft: raft("c-0", five, ["c-1", "c-2"]) },
      { replicas: 3, pods: five.map((n) => ready(n)), raft: raft("c-0", ["c-0", "c-1", "c-2", "c-3"], ["c-1", "c-2"]) },
    ]);
    assert.deepEqual(
      c.violations.map((v) => v.invariant),
      ["V2"],
    );
    assert.deepEqual(c.removals, [{ t: 100, ids: ["c-4"] }]);
  });

  it("flags a scale-down Pod deleted while the leader still lists it, and passes removal first", () => {
    const four = [...three, "c-3"];
    const unsafe = run([
      { replicas: 3, pods: four.map((n) => ready(n)), raft: raft("c-0", four) },
      { replicas: 3, pods: [...three.map((n) => ready(n)), terminating("c-3")], raft: raft("c-0", four) },
    ]);
    assert.deepEqual(
      unsafe.violations.map((v) => v.invariant),
      ["V3"],
    );
    const safe = run([
      { replicas: 3, pods: four.map((n) => ready(n)), raft: raft("c-0", four) },
      { replicas: 3, pods: four.map((n) => ready(n)), raft: raft("c-0", three) },
      { replicas: 3, pods: three.map((n) => ready(n)), raft: raft("c-0", three) },
    ]);
    assert.deepEqual(safe.violations, []);
  });

  it("says a run is unjudged when no leader's view was read, or none after a scale-down deletion", () => {
    const noView = run([
      { replicas: 3, pods: three.map((n) => ready(n)) },
      { replicas: 3, pods: [ready("c-0"), ready("c-1")] },
    ]);
    assert.deepEqual(noView.violations, []);
    assert.equal(noView.unchecked().length, 1);
    assert.match(noView.unchecked()[0]!, /no leader's Raft view was read in 2 samples/);

    const four = [...three, "c-3"];
    const deletedUnseen = run([
      { replicas: 3, pods: four.map((n) => ready(n)), raft: raft("c-0", four) },
      { replicas: 3, pods: three.map((n) => ready(n)) },
    ]);
    assert.equal(deletedUnseen.pendingDeletions, 1);
    assert.deepEqual(deletedUnseen.unchecked(), [
      "c-3 was deleted at 0.1 s and no leader's view was read afterwards: V3 unchecked",
    ]);
    deletedUnseen.observe({
      t: 200,
      alive: [],
      replicas: 3,
      pods: three.map((n) => ready(n)),
      raft: raft("c-0", three),
    });
    assert.deepEqual(deletedUnseen.unchecked(), []);
    assert.deepEqual(deletedUnseen.violations, []);
  });
});
