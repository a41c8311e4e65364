// Waiting on the operator, with one progress line: rewritten in place on a terminal, printed
// again only when it changes otherwise (so logs stay short).
import { getCluster } from "./cluster.js";
import { CliError } from "./errors.js";
import type { Kube } from "./kube.js";
import type { RqCluster } from "../shared/types.generated.js";

const POLL_MS = 1000;

/** Polls the RqCluster until `done` says so; `line` describes each state seen. */
export async function waitForCluster(
  kube: Kube,
  name: string,
  timeoutMs: number,
  done: (rq: RqCluster) => boolean,
  line: (rq: RqCluster) => string,
): Promise<RqCluster> {
  const deadline = Date.now() + timeoutMs;
  const tty = process.stderr.isTTY;
  let last = "";
  for (;;) {
    const rq = await getCluster(kube, name);
    const text = line(rq);
    if (text !== last) process.stderr.write(tty ? `\r\x1b[K${text}` : `${text}\n`);
    last = text;
    if (done(rq)) {
      if (tty) process.stderr.write("\n");
      return rq;
    }
    if (Date.now() > deadline) {
      if (tty) process.stderr.write("\n");
      throw new CliError(
        `RqCluster ${kube.namespace}/${name} did not get there within ${Math.round(timeoutMs / 1000)} s (last: ${text}); see kubectl rqlite status ${name}`,
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export const isAvailable = (rq: RqCluster) =>
  rq.status?.conditions?.some((c) => c.type === "Available" && c.status === "True") ?? false;

/** "30s", "5m", "1h" (kubectl's --timeout), in milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration; use e.g. 90s, 5m or 1h`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h"];
  return Number(m[1]) * unit;
}
