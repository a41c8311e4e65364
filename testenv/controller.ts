// Runs the real controller entry point (controller/main.ts) as a child process against the test
// control plane, as the given kubeconfig's identity, and reads its /metrics.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseObjects } from "../hack/kustomize.js";
import { join } from "node:path";
import type { ControlPlane } from "./controlplane.js";
import { installCRDs, OPERATOR_CRD_FILES } from "./crds.js";
import { freePort } from "./ports.js";
import { ProcessGroup, type Managed } from "./processes.js";

const root = fileURLToPath(new URL("..", import.meta.url));

const OPERATOR_NAMESPACE = "rqlite-operator-system";
const CONTROLLER_SA = "rqlite-operator-controller";
const WEBHOOK_SA = "rqlite-operator-webhook";

/**
 * What the controller needs on a plane before it starts, as deploy/ installs it: the RqCluster
 * and RqBackup CRDs, the operator's namespace, and its ServiceAccount with deploy/base's RBAC. Returns a
 * kubeconfig that signs in as that ServiceAccount.
 */
export async function operatorKubeconfig(cp: ControlPlane, durationSeconds?: number): Promise<string> {
  await installCRDs(cp, [...OPERATOR_CRD_FILES]);
  await installOperatorRbac(cp);
  return cp.serviceAccountKubeconfig(OPERATOR_NAMESPACE, CONTROLLER_SA, durationSeconds);
}

/**
 * The webhook's ServiceAccount as deploy/base makes it, with its RBAC (to check who may read its
 * /metrics), and a kubeconfig that signs in as it.
 */
export async function webhookKubeconfig(cp: ControlPlane): Promise<string> {
  await installOperatorRbac(cp);
  const file = join(root, "deploy/base/webhook.yaml");
  const sa = parseObjects(await readFile(file, "utf8"), file).filter((o) => o.kind === "ServiceAccount");
  await cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "List", items: sa }) });
  return cp.serviceAccountKubeconfig(OPERATOR_NAMESPACE, WEBHOOK_SA);
}

async function installOperatorRbac(cp: ControlPlane): Promise<void> {
  if ((await cp.kubectl(["get", "namespace", OPERATOR_NAMESPACE])).code !== 0)
    await cp.kubectlOk(["create", "namespace", OPERATOR_NAMESPACE]);
  await cp.kubectlOk(["apply", "-f", join(root, "deploy/base/controller-rbac.yaml")]);
}

/** Lease timings for tests: a handover in seconds, not the 15 s of production defaults. */
export const FAST_LEASE_ARGS = ["--lease-duration=4", "--renew-deadline=3", "--retry-period=1"];

export interface ControllerProcess {
  proc: Managed;
  metricsUrl: string;
  healthUrl: string;
  metrics(): Promise<string>;
  /** Every sample of a metric, with its labels. */
  samples(name: string): Promise<Sample[]>;
  /** Sum of a counter's samples whose labels match every given label. */
  counter(name: string, labels?: Record<string, string>): Promise<number>;
  isLeader(): Promise<boolean>;
  signal(sig: NodeJS.Signals): void;
  stop(): Promise<void>;
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface ControllerOptions {
  kubeconfig: string;
  /**
   * Node's arguments up to the controller's own, e.g. a compiled main.js with V8 flags before
   * it; by default the TypeScript source runs through tsx.
   */
  node?: string[];
  logDir: string;
  name: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
}

export async function startController(opts: ControllerOptions): Promise<ControllerProcess> {
  const procs = new ProcessGroup();
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const proc = procs.start(
    opts.name,
    process.execPath,
    [
      ...(opts.node ?? ["--import", "tsx", join(root, "controller/main.ts")]),
      `--kubeconfig=${opts.kubeconfig}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${healthPort}`,
      // Tests never resolve cluster DNS names: every rqlite address the controller dials is loopback.
      "--addressing=loopback",
      ...(opts.args ?? []),
    ],
    join(opts.logDir, `${opts.name}.log`),
    { ...process.env, LOG_LEVEL: "debug", ...opts.env },
  );
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  const metrics = async () => (await fetch(metricsUrl)).text();
  // As the webhook's (./webhook.ts): tsx compiling the controller alone passes 30 s on a loaded machine.
  const deadline = Date.now() + 90_000;
  for (;;) {
    const ok = await fetch(`${healthUrl}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (proc.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`controller ${opts.name} did not start (log ${proc.logFile}):\n${proc.tail(20)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const samples = async (name: string) => {
    const found: Sample[] = [];
    for (const line of (await metrics()).split("\n")) {
      const m = /^(\w+)(?:\{(.*)\})? ([0-9.e+-]+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      found.push({
        labels: Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!])),
        value: Number(m[3]),
      });
    }
    return found;
  };
  const counter = async (name: string, labels: Record<string, string> = {}) =>
    (await samples(name))
      .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((sum, s) => sum + s.value, 0);
  return {
    proc,
    metricsUrl,
    healthUrl,
    metrics,
    samples,
    counter,
    isLeader: async () => (await counter("leader_election_master_status")) === 1,
    signal: (sig) => proc.child.kill(sig),
    stop: () => procs.stopAll(),
  };
}
