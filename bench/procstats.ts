// Memory and CPU of a running process from /proc (Linux only), sampled by the bench rather
// than reported by the process itself, so a busy event loop cannot skew its own figures.
import { readFileSync } from "node:fs";

/** USER_HZ: the unit of utime and stime in /proc/<pid>/stat; 100 on every mainstream Linux. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Resident set size now and its high-water mark since the process started, in bytes. */
export function memoryOf(pid: number): { rssBytes: number; peakRssBytes: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
    if (!m) throw new Error(`/proc/${pid}/status has no ${field} line`);
    return Number(m[1]) * 1024;
  };
  return { rssBytes: kib("VmRSS"), peakRssBytes: kib("VmHWM") };
}

/** CPU seconds (user + system) the process has used so far. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may itself hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/**
 * Seconds the process's main thread has spent runnable but waiting for a CPU (the second field
 * of /proc/<pid>/schedstat). A server that waits here while requests are due is slowed by the
 * machine, not by its own code; for Node, the main thread is the one that runs JavaScript.
 */
export function runQueueSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/schedstat`, "utf8").trim().split(" ");
  return Number(fields[1]) / 1e9;
}

/** The one process among `pids` whose command name is `name`; throws naming what it found. */
export function pidNamed(pids: number[], name: string): number {
  const names = pids.map((pid) => readFileSync(`/proc/${pid}/comm`, "utf8").trim());
  const i = names.indexOf(name);
  if (i < 0) throw new Error(`no process named ${name} among ${pids.map((p, j) => `${p} (${names[j]})`).join(", ")}`);
  return pids[i]!;
}

/** CPU seconds every process on the machine has used so far (all cores), from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  // cpu user nice system idle iowait irq softirq steal ...
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS_PER_SECOND;
}
