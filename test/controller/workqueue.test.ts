import { strict as assert } from "node:assert";
import { performance } from "node:perf_hooks";
import { Registry } from "prom-client";
import { logger } from "../../controller/runtime/log.js";
import { WorkQueue, type KeyHandler } from "../../controller/runtime/workqueue.js";
import { eventually } from "../../testenv/eventually.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The value of a counter or gauge series of one queue. */
async function metric(registry: Registry, name: string, queue: string): Promise<number> {
  const { values } = await registry.getSingleMetric(name)!.get();
  return values.find((v) => v.labels.name === queue)?.value ?? 0;
}

describe("WorkQueue", () => {
  let registry: Registry;
  let queues: WorkQueue[];
  const make = (opts: Partial<ConstructorParameters<typeof WorkQueue>[0]> = {}) => {
    const q = new WorkQueue({ name: `q${queues.length}`, registry, ...opts });
    queues.push(q);
    return q;
  };

  before(() => {
    logger.level = process.env.LOG_LEVEL ?? "silent";
  });
  after(() => {
    logger.level = process.env.LOG_LEVEL ?? "info";
  });
  beforeEach(() => {
    registry = new Registry();
    queues = [];
  });
  afterEach(async () => {
    await Promise.all(queues.map((q) => q.shutdown()));
  });

  it("holds a pending key once however often it is added, in FIFO order", async () => {
    const q = make();
    for (const k of ["a", "b", "a", "c", "b", "a"]) q.add(k);
    assert.equal(q.length, 3);
    assert.equal(await metric(registry, "workqueue_depth", q.name), 3);
    assert.equal(await metric(registry, "workqueue_adds_total", q.name), 3);
    const got = [await q.get(), await q.get(), await q.get()];
    assert.deepEqual(got, ["a", "b", "c"]);
    assert.equal(await metric(registry, "workqueue_depth", q.name), 0);
    got.forEach((k) => q.done(k));
  });

  it("never hands one key to two workers; a key re-added while processing runs again after", async () => {
    const q = make();
    const running = new Set<string>();
    let overlaps = 0;
    const runs: Record<string, number> = {};
    q.run(async (key) => {
      if (running.has(key)) overlaps++;
      running.add(key);
      runs[key] = (runs[key] ?? 0) + 1;
      await sleep(30);
      running.delete(key);
    }, 4);
    q.add("x");
    await eventually("x to start", () => running.has("x"));
    q.add("x"); // while x is being processed: must wait, not go to a second worker
    q.add("x"); // deduplicated with the previous add
    q.add("y"); // another key runs in parallel on a free worker
    await eventually("y to start", () => running.has("y"));
    assert.ok(running.has("x"), "x and y run at the same time on different workers");
    await eventually("x to run twice", () => runs.x === 2 && running.size === 0);
    await sleep(50);
    assert.equal(overlaps, 0);
    assert.deepEqual(runs, { x: 2, y: 1 });
  });

  it("backs a failing key off exponentially from 5 ms, doubling, until it succeeds", async () => {
    const q = make();
    const at: number[] = [];
    const delays: number[] = [];
    const original = q.addAfter.bind(q);
    q.addAfter = (key, ms) => {
      delays.push(ms);
      original(key, ms);
    };
    q.run((key) => {
      at.push(performance.now());
      return at.length <= 6 ? Promise.reject(new Error(`boom ${key}`)) : Promise.resolve();
    });
    q.add("k");
    await eventually("7 attempts", () => at.length === 7, 10_000);
    const expected = [5, 10, 20, 40, 80, 160];
    assert.deepEqual(delays, expected, "the delays asked for");
    // Timers never fire early; how late they fire depends on the machine's load, so it is not asserted.
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    gaps.forEach((g, i) =>
      assert.ok(g >= expected[i]! - 1, `gap ${i} was ${g.toFixed(1)} ms, expected >= ${expected[i]}`),
    );
    assert.equal(q.numRequeues("k"), 0, "success forgets the backoff");
    assert.equal(await metric(registry, "workqueue_retries_total", q.name), 6);
  });

  it("caps the backoff and forget() starts it over", () => {
    const q = make({ baseDelayMs: 10, maxDelayMs: 40 });
    const delays: number[] = [];
    const original = q.addAfter.bind(q);
    q.addAfter = (key, ms) => {
      delays.push(ms);
      original(key, ms);
    };
    for (let i = 0; i < 5; i++) q.addRateLimited("k");
    assert.deepEqual(delays, [10, 20, 40, 40, 40]);
    assert.equal(q.numRequeues("k"), 5);
    q.forget("k");
    assert.equal(q.numRequeues("k"), 0);
    q.addRateLimited("k");
    assert.equal(delays.at(-1), 10);
  });

  it("defaults to controller-runtime's 5 ms base and 1000 s cap", () => {
    const q = make();
    const delays: number[] = [];
    q.addAfter = (_key, ms) => {
      delays.push(ms);
    };
    for (let i = 0; i < 40; i++) q.addRateLimited("k");
    assert.equal(delays[0], 5);
    assert.equal(delays[1], 10);
    assert.equal(Math.max(...delays), 1_000_000);
  });

  it("addAfter adds the key once the delay passes, and the earliest of two delays wins", async () => {
    const q = make();
    const seen: Array<[string, number]> = [];
    const t0 = performance.now();
    q.run((key) => {
      seen.push([key, performance.now() - t0]);
      return Promise.resolve();
    });
    q.addAfter("late-then-early", 400);
    q.addAfter("late-then-early", 60);
    q.addAfter("early-then-late", 60);
    q.addAfter("early-then-late", 400);
    await sleep(30);
    assert.equal(seen.length, 0, "nothing before the delay");
    await sleep(600);
    assert.deepEqual(seen.map(([k]) => k).sort(), ["early-then-late", "late-then-early"], "each key ran exactly once");
    for (const [k, t] of seen) assert.ok(t >= 59 && t < 350, `${k} ran at ${t.toFixed(0)} ms`);
  });

  it("honours a handler's requeueAfterMs and requeue results", async () => {
    const q = make();
    const runs: Record<string, number> = {};
    q.run((key) => {
      runs[key] = (runs[key] ?? 0) + 1;
      if (key === "after" && runs[key] === 1) return Promise.resolve({ requeueAfterMs: 50 });
      if (key === "again" && runs[key] === 1) return Promise.resolve({ requeue: true });
      return Promise.resolve();
    });
    q.add("after");
    q.add("again");
    await eventually("both twice", () => runs.after === 2 && runs.again === 2);
    assert.equal(q.numRequeues("after"), 0);
  });

  it("shutdown drains the queued keys, drops new and delayed adds, and waits for running work", async () => {
    const q = make();
    const done: string[] = [];
    q.run(async (key) => {
      await sleep(20);
      done.push(key);
    }, 2);
    for (const k of ["a", "b", "c", "d", "e"]) q.add(k);
    q.addAfter("delayed", 30);
    const stopping = q.shutdown();
    q.add("after-shutdown");
    await stopping;
    assert.deepEqual([...done].sort(), ["a", "b", "c", "d", "e"]);
    await sleep(60);
    assert.equal(done.length, 5, "neither the delayed key nor a key added after shutdown ran");
    assert.equal(await q.get(), undefined, "get() returns undefined after shutdown");
  });

  it("reports durations, in-progress work and the longest running processor", async () => {
    const q = make();
    let release!: () => void;
    const handler: KeyHandler = () =>
      new Promise<void>((r) => {
        release = r;
      });
    q.run(handler);
    q.add("slow");
    await sleep(1100);
    assert.ok((await metric(registry, "workqueue_longest_running_processor_seconds", q.name)) >= 0.5);
    assert.ok((await metric(registry, "workqueue_unfinished_work_seconds", q.name)) >= 0.5);
    release();
    await q.shutdown();
    const exposition = await registry.metrics();
    assert.match(exposition, /workqueue_work_duration_seconds_count\{name="q0"\} 1/);
    assert.match(exposition, /workqueue_queue_duration_seconds_count\{name="q0"\} 1/);
    assert.match(exposition, /workqueue_longest_running_processor_seconds\{name="q0"\} 0/);
  });
});
