import { spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync, readdirSync, readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";

const reaperScript = fileURLToPath(new URL("../hack/reaper.sh", import.meta.url));

export interface Managed {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** Settles when the process exits, with its exit code or signal. */
  exited: Promise<string>;
  /** The last lines of its log, for error messages. */
  tail(lines?: number): string;
}

/**
 * Starts and stops the processes of one test environment. Each process runs in its own process
 * group so that stopping it also stops whatever it forked. A detached reaper holds the other end
 * of a pipe: if this Node process dies without cleaning up, even by SIGKILL, the reaper ends the
 * recorded groups and removes the recorded folders.
 */
export class ProcessGroup {
  private readonly reaper: ChildProcess;
  private readonly reaperDone: Promise<void>;
  private readonly managed: Managed[] = [];

  constructor() {
    this.reaper = spawn("bash", [reaperScript], { detached: true, stdio: ["pipe", "ignore", "ignore"] });
    this.reaperDone = new Promise((resolve) => this.reaper.once("exit", () => resolve()));
    this.reaper.unref();
    (this.reaper.stdin as unknown as Socket).unref();
  }

  get pids(): number[] {
    return this.managed.map((m) => m.child.pid!).filter(Boolean);
  }

  removeOnExit(dir: string): void {
    this.reaper.stdin!.write(`dir ${dir}\n`);
  }

  /** On stop or crash, kill every process in this mount namespace (see hack/reaper.sh). */
  killMountNamespaceOnExit(inode: string): void {
    this.reaper.stdin!.write(`mntns ${inode}\n`);
  }

  /** On stop or crash, kill every process in this cgroup tree and remove it (see hack/reaper.sh). */
  removeCgroupOnExit(path: string): void {
    this.reaper.stdin!.write(`cgroup ${path}\n`);
  }

  start(name: string, bin: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): Managed {
    const fd = openSync(logFile, "a");
    const child = spawn(bin, args, { detached: true, stdio: ["ignore", fd, fd], env: env ?? process.env });
    closeSync(fd);
    child.unref();
    const exited = new Promise<string>((resolve) => {
      child.once("exit", (code, signal) => resolve(signal ?? `exit code ${code}`));
      child.once("error", (err) => resolve(`failed to start: ${err.message}`));
    });
    if (child.pid) this.reaper.stdin!.write(`pid ${child.pid}\n`);
    const tail = (lines = 5) => {
      try {
        return readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
      } catch {
        return "";
      }
    };
    const m: Managed = { name, child, logFile, exited, tail };
    this.managed.push(m);
    return m;
  }

  /** Stops one process: SIGTERM to its group, SIGKILL after the grace period. */
  async stopOne(m: Managed, graceMs = 5000): Promise<void> {
    if (m.child.exitCode !== null || m.child.signalCode !== null || !m.child.pid) return;
    signalGroup(m.child.pid, "SIGTERM");
    const timer = setTimeout(() => signalGroup(m.child.pid!, "SIGKILL"), graceMs);
    // The child is unref'd: without a handle of our own, Node would leave a process whose only
    // work is this wait before the child's exit is seen (exit code 13, the error unreported).
    const alive = setInterval(() => {}, 1000);
    await m.exited;
    clearTimeout(timer);
    clearInterval(alive);
    // A child of the group may outlive the leader; the group kill makes sure.
    signalGroup(m.child.pid, "SIGKILL");
  }

  /** Stops every process (last started first), then lets the reaper remove the folders. */
  async stopAll(): Promise<void> {
    for (const m of [...this.managed].reverse()) await this.stopOne(m);
    this.reaper.stdin!.end();
    await this.reaperDone;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone, which is what we want.
  }
}

/** True while a process with this pid exists (signal 0 only checks). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface TsxProcess {
  child: ChildProcess;
  /** What it printed so far, stdout and stderr interleaved as they came. */
  readonly out: string;
  /** Settles when it exits, with its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
}

/**
 * Runs a TypeScript file with Node through tsx, as `npm run` would, with the test environment's
 * progress lines quiet, collecting what it prints for a test to read while it runs.
 */
export function spawnTsx(script: string, cwd: string, args: string[] = []): TsxProcess {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TESTENV_QUIET: "1" },
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", r));
  return {
    child,
    get out() {
      return out;
    },
    exited,
  };
}

/**
 * SIGSTOP, then waits until the kernel has stopped every thread of the process (state T in
 * /proc): kill() returns before that, and on a busy machine a thread of a Go program could still
 * answer one more request, which a test that freezes a node to prove it silent would misread.
 */
export async function freezeProcess(child: ChildProcess, timeoutMs = 5000): Promise<void> {
  child.kill("SIGSTOP");
  const pid = child.pid;
  if (pid === undefined) return;
  const deadline = Date.now() + timeoutMs;
  const stopped = () => {
    try {
      return readdirSync(`/proc/${pid}/task`).every((t) => {
        // The state follows the command name, which is in parentheses and may itself hold spaces.
        const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
        return /^[Tt]/.test(stat.slice(stat.lastIndexOf(")") + 2));
      });
    } catch {
      return true; // gone: nothing of it can answer either
    }
  };
  while (!stopped()) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop within ${timeoutMs} ms of SIGSTOP`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
