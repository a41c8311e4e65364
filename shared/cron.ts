// Cron schedules, PURE: the parser of an RqScheduledBackup's spec.schedule and "the next firing
// after t" in a time zone. No clock and no module state: every answer is a function of the text,
// the zone and t, so two controllers (or one restarted) agree on each firing's time, and so on
// the name of the RqBackup it creates. Table-tested in test/unit/shared/cron.test.ts.
//
// The syntax is the standard five fields (minute hour day-of-month month day-of-week), with `*`,
// lists `a,b`, ranges `a-b`, steps `*/n`, `a-b/n` and `a/n` (from a to the field's end), month and
// weekday names (JAN, MON; any case), 7 as Sunday, and the usual rule that when both day fields
// are restricted a day matching either fires. Descriptors: @yearly (@annually), @monthly, @weekly,
// @daily (@midnight), @hourly, and `@every <duration>` (e.g. @every 5s, @every 1h30m), which fires
// at every whole multiple of the duration since the Unix epoch, in UTC whatever the time zone.

export type Cron =
  | {
      kind: "fields";
      minutes: ReadonlySet<number>;
      hours: ReadonlySet<number>;
      days: ReadonlySet<number>;
      months: ReadonlySet<number>;
      weekdays: ReadonlySet<number>;
      /** Day-of-month and day-of-week were both restricted: a day matching either fires. */
      eitherDay: boolean;
    }
  | { kind: "every"; ms: number };

export class CronError extends Error {}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: readonly FieldSpec[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTH_NAMES },
  // 7 is Sunday too; folded onto 0 after parsing.
  { name: "day of week", min: 0, max: 7, names: DAY_NAMES },
];

const DESCRIPTORS: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

/** The longest day of each month (February's in a leap year). */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const EVERY_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** An `@every` longer than this is a typo, not a schedule (and would overflow nothing useful). */
const EVERY_MAX_MS = 366 * 86_400_000;

/** Parses a schedule; throws CronError with a sentence saying what is wrong and where. */
export function parseCron(text: string): Cron {
  const spec = text.trim();
  if (spec.startsWith("@every")) return parseEvery(spec);
  if (spec.startsWith("@")) {
    const fields = DESCRIPTORS[spec.toLowerCase()];
    if (!fields)
      throw new CronError(
        `unknown descriptor ${JSON.stringify(spec)}: expected @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>`,
      );
    return parseCron(fields);
  }
  const parts = spec.split(/\s+/).filter((p) => p !== "");
  if (parts.length !== 5)
    throw new CronError(
      `expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}; seconds are not a cron field (use @every for intervals under a minute)`,
    );
  const [minutes, hours, days, months, weekdaysRaw] = parts.map((p, i) => parseField(p, FIELDS[i]!));
  const weekdays = new Set([...weekdaysRaw!].map((d) => d % 7));
  const cron: Cron = {
    kind: "fields",
    minutes: minutes!,
    hours: hours!,
    days: days!,
    months: months!,
    weekdays,
    eitherDay: !parts[2]!.startsWith("*") && !parts[4]!.startsWith("*"),
  };
  // A day of month that no chosen month has never fires (unless the weekday can).
  if (!parts[2]!.startsWith("*") && !cron.eitherDay) {
    const possible = [...months!].some((m) => [...days!].some((d) => d <= MONTH_DAYS[m - 1]!));
    if (!possible)
      throw new CronError(`day of month ${parts[2]} never occurs in month ${parts[3]}: the schedule would never fire`);
  }
  return cron;
}

function parseEvery(spec: string): Cron {
  const m = /^@every\s+(([0-9]+(s|m|h|d))+)$/.exec(spec);
  if (!m)
    throw new CronError(
      `${JSON.stringify(spec)}: expected @every <duration> in whole seconds, minutes, hours or days, e.g. @every 30s or @every 1h30m`,
    );
  const ms = [...m[1]!.matchAll(/([0-9]+)(s|m|h|d)/g)].reduce((sum, [, n, u]) => sum + Number(n) * EVERY_UNITS[u!]!, 0);
  if (ms < 1000) throw new CronError(`${JSON.stringify(spec)}: the interval must be at least 1s`);
  if (ms > EVERY_MAX_MS) throw new CronError(`${JSON.stringify(spec)}: the interval may be at most 366d`);
  return { kind: "every", ms };
}

function parseValue(text: string, f: FieldSpec): number {
  const byName = f.names?.findIndex((n) => n === text.toUpperCase()) ?? -1;
  if (byName >= 0) return byName + f.min;
  if (!/^[0-9]{1,2}$/.test(text))
    throw new CronError(
      `${f.name}: ${JSON.stringify(text)} is not a number${f.names ? " or a name (" + f.names.join(", ") + ")" : ""}`,
    );
  const n = Number(text);
  if (n < f.min || n > f.max) throw new CronError(`${f.name}: ${n} is out of range ${f.min}-${f.max}`);
  return n;
}

function parseField(text: string, f: FieldSpec): Set<number> {
  const out = new Set<number>();
  for (const item of text.split(",")) {
    if (item === "") throw new CronError(`${f.name}: ${JSON.stringify(text)} has an empty list item`);
    const [range, stepText, extra] = item.split("/");
    if (extra !== undefined) throw new CronError(`${f.name}: ${JSON.stringify(item)} has more than one /`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^[0-9]{1,2}$/.test(stepText) || Number(stepText) < 1)
        throw new CronError(`${f.name}: step ${JSON.stringify(stepText)} in ${JSON.stringify(item)} must be 1 to 99`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (range === "*") [lo, hi] = [f.min, f.max];
    else if (range!.includes("-")) {
      const [a, b, more] = range!.split("-");
      if (more !== undefined || a === "" || b === "")
        throw new CronError(`${f.name}: ${JSON.stringify(item)} is not a range a-b`);
      lo = parseValue(a!, f);
      hi = parseValue(b!, f);
      if (lo > hi) throw new CronError(`${f.name}: range ${JSON.stringify(range)} runs backwards`);
    } else {
      lo = parseValue(range!, f);
      // `a/n` runs from a to the field's end, as in Vixie cron and most libraries.
      hi = stepText !== undefined ? f.max : lo;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

interface Local {
  year: number;
  month: number;
  day: number;
  weekday: number;
  hour: number;
  minute: number;
}

const WEEKDAY_INDEX: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** Reads a UTC instant as wall-clock fields in one zone (Intl, so the platform's tz database). */
function localReader(timeZone: string): (ms: number) => Local {
  const fmt = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    weekday: "short",
    hour: "numeric",
    minute: "numeric",
  });
  return (ms) => {
    const p: Record<string, string> = {};
    for (const { type, value } of fmt.formatToParts(ms)) p[type] = value;
    return {
      year: Number(p.year),
      month: Number(p.month),
      day: Number(p.day),
      weekday: WEEKDAY_INDEX[p.weekday!]!,
      hour: Number(p.hour),
      minute: Number(p.minute),
    };
  };
}

/** Whether `timeZone` is an IANA zone the platform knows (UTC included). */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** The search gives up past this: no valid schedule waits longer (Feb 29 on a Monday: 28 years). */
const SEARCH_LIMIT_MS = 30 * 366 * 86_400_000;
const MINUTE = 60_000;

/**
 * The first firing strictly after `after` (ms since the epoch), as ms; undefined when there is
 * none within 30 years (a schedule the parser accepted always has one). A wall-clock time that
 * a DST change skips does not fire that day; one it repeats fires at its first occurrence.
 */
export function nextFiring(cron: Cron, after: number, timeZone = "UTC"): number | undefined {
  if (cron.kind === "every") return (Math.floor(after / cron.ms) + 1) * cron.ms;
  const local = localReader(timeZone);
  let t = (Math.floor(after / MINUTE) + 1) * MINUTE;
  const end = after + SEARCH_LIMIT_MS;
  while (t <= end) {
    const l = local(t);
    const dayOk = cron.eitherDay
      ? cron.days.has(l.day) || cron.weekdays.has(l.weekday)
      : cron.days.has(l.day) && cron.weekdays.has(l.weekday);
    if (!cron.months.has(l.month) || !dayOk) {
      // Nothing this local day can fire: on to (just before) its end. An hour short, so a DST
      // change in between can never carry the search past the next day's first minutes.
      t += Math.max(60 - l.minute, 1380 - l.hour * 60 - l.minute) * MINUTE;
      continue;
    }
    if (!cron.hours.has(l.hour)) {
      t += (60 - l.minute) * MINUTE;
      continue;
    }
    if (!cron.minutes.has(l.minute)) {
      t += MINUTE;
      continue;
    }
    // A wall-clock minute that DST's end repeats fires once, at its first occurrence.
    if (sameMinute(local(t - 3_600_000), l)) {
      t += MINUTE;
      continue;
    }
    return t;
  }
  return undefined;
}

const sameMinute = (a: Local, b: Local) =>
  a.year === b.year && a.month === b.month && a.day === b.day && a.hour === b.hour && a.minute === b.minute;

/**
 * The newest firing at or before `now` and strictly after `since`; undefined when none. Searches
 * back from `now` in widening windows, so a controller down for months does not step through
 * every minute it missed.
 */
export function latestFiring(cron: Cron, since: number, now: number, timeZone = "UTC"): number | undefined {
  if (now <= since) return undefined;
  if (cron.kind === "every") {
    const t = Math.floor(now / cron.ms) * cron.ms;
    return t > since ? t : undefined;
  }
  for (const window of [3_600_000, 86_400_000, 32 * 86_400_000, 367 * 86_400_000, SEARCH_LIMIT_MS]) {
    const from = Math.max(since, now - window);
    let found: number | undefined;
    for (let t = nextFiring(cron, from, timeZone); t !== undefined && t <= now; t = nextFiring(cron, t, timeZone))
      found = t;
    if (found !== undefined || from === since) return found;
  }
  return undefined;
}
