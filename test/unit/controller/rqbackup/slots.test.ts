// Table tests of the backup slots (controller/rqbackup/slots.ts): the operator's and each
// namespace's limit, the order in which a freed slot is given, and what a restart finds running.
import { strict as assert } from "node:assert";
import { acquire, hold, NO_SLOTS, release, type BackupSlots } from "../../../../controller/rqbackup/slots.js";

const LIMITS = { total: 3, perNamespace: 2 };

/** Acquires each key in turn; returns the state and which keys started. */
function run(keys: string[], slots: BackupSlots = NO_SLOTS, limits = LIMITS) {
  const started: string[] = [];
  const reasons: Record<string, string> = {};
  for (const k of keys) {
    const d = acquire(slots, k, limits);
    slots = d.slots;
    if (d.start) started.push(k);
    else reasons[k] = d.reason;
  }
  return { slots, started, reasons };
}

describe("backup slots (pure)", () => {
  it("gives one namespace no more than its share, and leaves the rest to others", () => {
    const { slots, started, reasons } = run(["a/1", "a/2", "a/3", "a/4", "b/1"]);
    assert.deepEqual(started, ["a/1", "a/2", "b/1"]);
    assert.match(reasons["a/3"]!, /namespace a already runs 2 backups, its limit \(--backup-max-per-namespace=2\)/);
    assert.deepEqual(slots.waiting, ["a/3", "a/4"]);
  });

  it("holds the operator's total, and says which limit refused", () => {
    const { started, reasons } = run(["a/1", "b/1", "c/1", "d/1"]);
    assert.deepEqual(started, ["a/1", "b/1", "c/1"]);
    assert.match(reasons["d/1"]!, /3 backups are running, the operator's limit \(--backup-workers=3\)/);
  });

  it("asking again while running keeps the one slot; a waiter is listed once", () => {
    let { slots } = run(["a/1", "a/2", "a/3"]);
    assert.equal(acquire(slots, "a/1", LIMITS).start, true);
    assert.equal(acquire(slots, "a/1", LIMITS).slots, slots, "no change");
    slots = acquire(slots, "a/3", LIMITS).slots;
    assert.deepEqual(slots.waiting, ["a/3"]);
  });

  it("a freed slot goes to a waiting namespace that runs fewer, not to the busy one", () => {
    // a runs 2, b runs 1, c waits for the full operator; a frees one.
    let { slots } = run(["a/1", "a/2", "b/1", "c/1", "a/3"]);
    assert.deepEqual(slots.waiting, ["c/1", "a/3"]);
    const freed = release(slots, "a/1", LIMITS);
    slots = freed.slots;
    assert.deepEqual(freed.wake, ["c/1", "a/3"], "both may start as far as limits go; acquire orders them");
    // a/3 asks first (its worker was quicker), yet c/1, running none, goes first.
    const early = acquire(slots, "a/3", LIMITS);
    assert.equal(early.start, false);
    assert.match((early as { reason: string }).reason, /namespace c, which runs fewer, goes first/);
    const c = acquire(early.slots, "c/1", LIMITS);
    assert.equal(c.start, true);
    assert.deepEqual(c.slots.waiting, ["a/3"]);
    assert.deepEqual(Object.keys(c.slots.running).sort(), ["a/2", "b/1", "c/1"]);
  });

  it("release wakes nobody while the operator is still full, and frees nothing for an unknown key", () => {
    const { slots } = run(["a/1", "b/1", "c/1", "d/1"]);
    assert.deepEqual(release(slots, "x/9", LIMITS).wake, []);
    const freed = release(slots, "a/1", LIMITS);
    assert.deepEqual(freed.wake, ["d/1"]);
    const stillFull = release(acquire(freed.slots, "d/1", LIMITS).slots, "nope/1", LIMITS);
    assert.deepEqual(stillFull.wake, []);
  });

  it("releasing a waiter (its backup deleted, or not transferring) forgets it", () => {
    const { slots } = run(["a/1", "a/2", "a/3"]);
    const gone = release(slots, "a/3", LIMITS);
    assert.deepEqual(gone.slots.waiting, []);
    assert.deepEqual(gone.wake, []);
  });

  it("hold records a Job found running after a restart, even past the limits", () => {
    let { slots } = run(["a/1", "a/2"]);
    slots = hold(slots, "a/3");
    assert.deepEqual(Object.keys(slots.running).sort(), ["a/1", "a/2", "a/3"]);
    assert.equal(acquire(slots, "b/1", LIMITS).start, false, "the operator is full");
    assert.equal(hold(slots, "a/3"), slots);
  });

  it("never hands out more than the limits, whatever the order of acquires and releases", () => {
    // A seeded walk: 2 000 random steps over 4 namespaces.
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    let slots = NO_SLOTS;
    for (let i = 0; i < 2000; i++) {
      const key = `${"abcd"[rnd(4)]}/${rnd(5)}`;
      slots = rnd(3) ? acquire(slots, key, LIMITS).slots : release(slots, key, LIMITS).slots;
      const names = Object.values(slots.running);
      assert.ok(names.length <= LIMITS.total, `step ${i}: ${names.length} running`);
      for (const ns of new Set(names))
        assert.ok(names.filter((n) => n === ns).length <= LIMITS.perNamespace, `step ${i}: namespace ${ns}`);
    }
  });
});
