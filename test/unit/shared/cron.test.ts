// The cron parser and "next firing after t" (shared/cron.ts): the syntax, DST in a time zone,
// Feb 29, the descriptors, @every, and the refusal of bad specs with a reason.
import { strict as assert } from "node:assert";
import { CronError, latestFiring, nextFiring, parseCron } from "../../../shared/cron.js";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
/** The next `n` firings after `from`. */
function firings(spec: string, from: string, n: number, tz?: string): string[] {
  const cron = parseCron(spec);
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) {
    const next = nextFiring(cron, t, tz);
    assert.ok(next !== undefined, `${spec}: no firing after ${iso(t)}`);
    out.push(iso(next)!);
    t = next;
  }
  return out;
}

describe("cron: parsing", () => {
  const cases: Array<[string, Partial<Record<"minutes" | "hours" | "days" | "months" | "weekdays", number[]>>]> = [
    ["*/15 * * * *", { minutes: [0, 15, 30, 45] }],
    ["0 9-17/4 * * *", { minutes: [0], hours: [9, 13, 17] }],
    ["5,10,50-52 * * * *", { minutes: [5, 10, 50, 51, 52] }],
    ["0 0 * * MON-fri", { weekdays: [1, 2, 3, 4, 5] }],
    ["0 0 * * 7", { weekdays: [0] }],
    ["0 0 * * 5-7", { weekdays: [5, 6, 0] }],
    ["0 0 1 jan,JUL *", { days: [1], months: [1, 7] }],
    ["30 20/2 * * *", { hours: [20, 22] }],
  ];
  for (const [spec, want] of cases) {
    it(`reads ${spec}`, () => {
      const cron = parseCron(spec);
      assert.equal(cron.kind, "fields");
      if (cron.kind !== "fields") return;
      for (const [field, values] of Object.entries(want)) {
        assert.deepEqual(
          [...cron[field as keyof typeof want]].sort((a, b) => a - b),
          [...values].sort((a, b) => a - b),
          field,
        );
      }
    });
  }

  const bad: Array<[string, RegExp]> = [
    ["", /expected 5 fields/],
    ["* * * *", /expected 5 fields/],
    ["0 * * * * *", /expected 5 fields.*seconds are not a cron field/],
    ["60 * * * *", /minute: 60 is out of range 0-59/],
    ["* 24 * * *", /hour: 24 is out of range 0-23/],
    ["* * 0 * *", /day of month: 0 is out of range 1-31/],
    ["* * * 13 *", /month: 13 is out of range 1-12/],
    ["* * * * 8", /day of week: 8 is out of range 0-7/],
    ["*/0 * * * *", /step "0".*must be 1 to 99/],
    ["5-1 * * * *", /range "5-1" runs backwards/],
    ["1,,2 * * * *", /empty list item/],
    ["a * * * *", /minute: "a" is not a number/],
    ["* * * FOO *", /month: "FOO" is not a number or a name/],
    ["1-2-3 * * * *", /is not a range/],
    ["*/5/2 * * * *", /more than one \//],
    ["0 0 30 2 *", /day of month 30 never occurs in month 2/],
    ["0 0 31 4,6,9,11 *", /never occurs/],
    ["@fortnightly", /unknown descriptor/],
    ["@every", /expected @every <duration>/],
    ["@every 5", /expected @every <duration>/],
    ["@every 1.5h", /expected @every <duration>/],
    ["@every 500ms", /expected @every <duration>/],
    ["@every 0s", /at least 1s/],
    ["@every 367d", /at most 366d/],
    ["$(id) * * * *", /minute: "\$\(id\)" is not a number/],
  ];
  for (const [spec, message] of bad) {
    it(`refuses ${JSON.stringify(spec)}`, () => {
      assert.throws(
        () => parseCron(spec),
        (err: Error) => err instanceof CronError && message.test(err.message),
      );
    });
  }

  it("accepts Feb 29 and a day of month that only some chosen months have", () => {
    parseCron("0 0 29 2 *");
    parseCron("0 0 31 1-2 *");
    // Either day field may fire when both are restricted: the weekday can.
    parseCron("0 0 30 2 MON");
  });
});

describe("cron: the next firing", () => {
  it("steps, ranges and lists", () => {
    assert.deepEqual(firings("*/20 * * * *", "2026-01-01T00:05:00Z", 4), [
      "2026-01-01T00:20:00.000Z",
      "2026-01-01T00:40:00.000Z",
      "2026-01-01T01:00:00.000Z",
      "2026-01-01T01:20:00.000Z",
    ]);
    assert.deepEqual(firings("15 8-10 * * *", "2026-01-01T09:15:00Z", 3), [
      "2026-01-01T10:15:00.000Z",
      "2026-01-02T08:15:00.000Z",
      "2026-01-02T09:15:00.000Z",
    ]);
  });

  it("is strictly after t, also from inside a firing minute", () => {
    assert.deepEqual(firings("0 2 * * *", "2026-03-01T02:00:00Z", 1), ["2026-03-02T02:00:00.000Z"]);
    assert.deepEqual(firings("0 2 * * *", "2026-03-01T02:00:30Z", 1), ["2026-03-02T02:00:00.000Z"]);
    assert.deepEqual(firings("0 2 * * *", "2026-03-01T01:59:59.999Z", 1), ["2026-03-01T02:00:00.000Z"]);
  });

  it("Feb 29 fires only in leap years, skipping 2100", () => {
    assert.deepEqual(firings("0 0 29 2 *", "2026-06-01T00:00:00Z", 3), [
      "2028-02-29T00:00:00.000Z",
      "2032-02-29T00:00:00.000Z",
      "2036-02-29T00:00:00.000Z",
    ]);
    assert.deepEqual(firings("0 0 29 2 *", "2096-03-01T00:00:00Z", 1), ["2104-02-29T00:00:00.000Z"]);
  });

  it("day of month OR day of week when both are restricted, AND when one is *", () => {
    // 2026-02-13 is a Friday; the 1st of March is a Sunday.
    assert.deepEqual(firings("0 0 1 * FRI", "2026-02-12T00:00:00Z", 3), [
      "2026-02-13T00:00:00.000Z",
      "2026-02-20T00:00:00.000Z",
      "2026-02-27T00:00:00.000Z",
    ]);
    assert.deepEqual(firings("0 0 1 * FRI", "2026-02-27T00:00:00Z", 1), ["2026-03-01T00:00:00.000Z"]);
    assert.deepEqual(firings("0 0 * 3 SUN", "2026-02-27T00:00:00Z", 2), [
      "2026-03-01T00:00:00.000Z",
      "2026-03-08T00:00:00.000Z",
    ]);
  });

  it("the descriptors", () => {
    const from = "2026-05-15T10:30:00Z";
    assert.deepEqual(firings("@hourly", from, 1), ["2026-05-15T11:00:00.000Z"]);
    assert.deepEqual(firings("@daily", from, 1), ["2026-05-16T00:00:00.000Z"]);
    assert.deepEqual(firings("@midnight", from, 1), ["2026-05-16T00:00:00.000Z"]);
    assert.deepEqual(firings("@weekly", from, 1), ["2026-05-17T00:00:00.000Z"]);
    assert.deepEqual(firings("@monthly", from, 1), ["2026-06-01T00:00:00.000Z"]);
    assert.deepEqual(firings("@yearly", from, 1), ["2027-01-01T00:00:00.000Z"]);
    assert.deepEqual(firings("@annually", from, 1), ["2027-01-01T00:00:00.000Z"]);
  });

  it("@every counts whole multiples from the epoch, whatever the zone", () => {
    assert.deepEqual(firings("@every 5s", "2026-01-01T00:00:03Z", 3), [
      "2026-01-01T00:00:05.000Z",
      "2026-01-01T00:00:10.000Z",
      "2026-01-01T00:00:15.000Z",
    ]);
    assert.deepEqual(firings("@every 1h30m", "2026-01-01T00:00:00Z", 2, "Asia/Kolkata"), [
      "2026-01-01T01:30:00.000Z",
      "2026-01-01T03:00:00.000Z",
    ]);
  });

  it("reads the fields in the time zone", () => {
    // 02:00 in Paris is 01:00 UTC in winter, 00:00 UTC in summer.
    assert.deepEqual(firings("0 2 * * *", "2026-01-10T12:00:00Z", 1, "Europe/Paris"), ["2026-01-11T01:00:00.000Z"]);
    assert.deepEqual(firings("0 2 * * *", "2026-07-10T12:00:00Z", 1, "Europe/Paris"), ["2026-07-11T00:00:00.000Z"]);
    // Kathmandu is UTC+5:45.
    assert.deepEqual(firings("0 0 * * *", "2026-01-10T00:00:00Z", 1, "Asia/Kathmandu"), ["2026-01-10T18:15:00.000Z"]);
  });

  it("DST starts: a wall-clock time the change skips does not fire that day", () => {
    // Europe/Paris moves from 02:00 to 03:00 on 2026-03-29 (01:00 UTC).
    assert.deepEqual(firings("30 2 * * *", "2026-03-27T12:00:00Z", 3, "Europe/Paris"), [
      "2026-03-28T01:30:00.000Z",
      "2026-03-30T00:30:00.000Z",
      "2026-03-31T00:30:00.000Z",
    ]);
    // A time just after the gap, and hourly firings across it.
    assert.deepEqual(firings("0 * * * *", "2026-03-29T00:30:00Z", 2, "Europe/Paris"), [
      "2026-03-29T01:00:00.000Z",
      "2026-03-29T02:00:00.000Z",
    ]);
    // America/New_York: 2026-03-08 02:00 -> 03:00; midnight the next day still fires.
    assert.deepEqual(firings("0 0 * * *", "2026-03-07T12:00:00Z", 2, "America/New_York"), [
      "2026-03-08T05:00:00.000Z",
      "2026-03-09T04:00:00.000Z",
    ]);
  });

  it("DST ends: a repeated wall-clock time fires once, at its first occurrence", () => {
    // Europe/Paris moves from 03:00 back to 02:00 on 2026-10-25 (01:00 UTC); 02:30 happens twice.
    assert.deepEqual(firings("30 2 * * *", "2026-10-24T12:00:00Z", 2, "Europe/Paris"), [
      "2026-10-25T00:30:00.000Z",
      "2026-10-26T01:30:00.000Z",
    ]);
    // Every 30 minutes through the repeated hour: each wall-clock time once.
    assert.deepEqual(firings("*/30 * * * *", "2026-10-24T23:45:00Z", 4, "Europe/Paris"), [
      "2026-10-25T00:00:00.000Z",
      "2026-10-25T00:30:00.000Z",
      "2026-10-25T02:00:00.000Z",
      "2026-10-25T02:30:00.000Z",
    ]);
  });
});

describe("cron: the latest firing due", () => {
  it("is the newest firing in (since, now], or none", () => {
    const cron = parseCron("0 2 * * *");
    assert.equal(
      iso(latestFiring(cron, at("2026-01-01T00:00:00Z"), at("2026-01-05T03:00:00Z"))),
      "2026-01-05T02:00:00.000Z",
    );
    assert.equal(latestFiring(cron, at("2026-01-05T02:00:00Z"), at("2026-01-05T03:00:00Z")), undefined);
    assert.equal(
      iso(latestFiring(cron, at("2026-01-05T01:00:00Z"), at("2026-01-05T02:00:00Z"))),
      "2026-01-05T02:00:00.000Z",
    );
  });

  it("a controller down for a year finds the last one without stepping through every minute", () => {
    const cron = parseCron("* * * * *");
    const began = performance.now();
    assert.equal(
      iso(latestFiring(cron, at("2025-01-01T00:00:00Z"), at("2026-01-01T00:00:30Z"))),
      "2026-01-01T00:00:00.000Z",
    );
    console.log(`      latestFiring of a per-minute cron after a year: ${(performance.now() - began).toFixed(1)} ms`);
    const yearly = parseCron("0 0 1 1 *");
    assert.equal(
      iso(latestFiring(yearly, at("2020-06-01T00:00:00Z"), at("2026-06-01T00:00:00Z"))),
      "2026-01-01T00:00:00.000Z",
    );
  });

  it("@every", () => {
    const cron = parseCron("@every 5s");
    assert.equal(
      iso(latestFiring(cron, at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:12Z"))),
      "2026-01-01T00:00:10.000Z",
    );
    assert.equal(latestFiring(cron, at("2026-01-01T00:00:10Z"), at("2026-01-01T00:00:12Z")), undefined);
  });
});
