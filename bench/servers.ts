// Bench subjects (the webhook, the bare endpoint) as child processes of the bench, each with
// its output in a file, as in a container: piping it here would steal the load generator's CPU.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { root } from "../testenv/webhookProcess.js";

/**
 * Spawns a server with its output in `logFile` and waits for the line that gives its port, for
 * `timeoutMs` (a loaded machine can take long to start the webhook: it compiles its schemas first).
 */
export async function startServer(
  args: string[],
  logFile: string,
  portOf: (line: Record<string, unknown>) => unknown,
  timeoutMs = 30_000,
): Promise<{ child: ChildProcess; port: number; line: Record<string, unknown> }> {
  const fd = openSync(logFile, "a");
  const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const text of readFileSync(logFile, "utf8").split("\n")) {
      if (!text.startsWith("{")) continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      const port = portOf(line);
      if (typeof port === "number") return { child, port, line };
    }
    if (child.exitCode !== null)
      throw new Error(`${args.join(" ")} exited (${child.exitCode}) before listening; see ${logFile}`);
    if (Date.now() > deadline)
      throw new Error(`${args.join(" ")} did not listen within ${timeoutMs / 1000} s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
