import { execFile } from "node:child_process";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveAssets, SCHEDULING_TOOLS } from "./assets.js";
import type { StartedComponent } from "./componentProcess.js";
import { startControllerManager, type ControllerManagerOptions } from "./controllerManager.js";
import { trackHostPathVolumes, type HostPathVolumeTracker } from "./hostPathVolumes.js";
import { renderKubeconfig } from "./kubeconfig.js";
import { generatePki, issueCert, type Pki } from "./pki.js";
import { freePort, portInUse } from "./ports.js";
import { startPodNetwork, type PodNetwork } from "./podNetwork.js";
import { ProcessGroup, type Managed } from "./processes.js";
import { startScheduler } from "./scheduler.js";
import { httpsOk } from "./httpsProbe.js";
import { storageClassManifests } from "./storageClasses.js";

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface KubectlOptions {
  input?: string;
  kubeconfig?: string;
  timeoutMs?: number;
}

export interface ControlPlaneOptions {
  /** Fixed kube-apiserver port; a free one is picked when absent. */
  apiPort?: number;
  /** Overrides the binaries folder (otherwise KUBEBUILDER_ASSETS or the build cache). */
  assetsDir?: string;
  /** Extra kube-apiserver flags, e.g. for a test that needs a feature gate. */
  extraApiServerArgs?: string[];
  /**
   * Give Pods IPs that kube-apiserver can proxy to (see podNetwork.ts); the local runtime then
   * reports them. Off by default: Pods keep their loopback address as their IP.
   */
  podNetwork?: boolean;
  /**
   * Also run kube-scheduler and kube-controller-manager (testenv/scheduler.ts,
   * testenv/controllerManager.ts) and create the StorageClasses (testenv/storageClasses.ts), so
   * Pods are scheduled onto nodes, PVCs bind, and garbage collection, node lifecycle and
   * disruption budgets work. Off by default: without it, nothing schedules or collects.
   */
  scheduling?: boolean | SchedulingOptions;
  /**
   * Real nodes (testenv/realCluster.ts): the ServiceAccount admission plugin on, so Pods get their
   * API credentials mounted, and the serving certificate also valid for these addresses.
   */
  realNodes?: { servingIPs: string[] };
}

export interface SchedulingOptions extends Omit<ControllerManagerOptions, "extraArgs"> {
  extraControllerManagerArgs?: string[];
  extraSchedulerArgs?: string[];
}

export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  url: string;
  /** Temp folder holding certs, data, logs and kubeconfigs; removed by stop(). */
  dir: string;
  /** Admin (system:masters) kubeconfig. */
  kubeconfigPath: string;
  pki: Pki;
  /** PIDs of etcd and kube-apiserver, for tests that prove nothing outlives the run. */
  pids: number[];
  /** JSON audit log of requests by ServiceAccounts of rqlite-operator-system and NAMESPACED_OPERATOR_NS. */
  auditLogPath: string;
  /**
   * Milliseconds from spawning etcd to kube-apiserver answering /readyz, and with `scheduling`
   * to kube-scheduler and kube-controller-manager being healthy and the StorageClasses created.
   */
  startupMs: number;
  /** kube-scheduler and kube-controller-manager run (the `scheduling` option). */
  scheduling: boolean;
  /** Pods are reached through the pod network (podNetwork.ts), so pods/proxy works. */
  podNetwork: boolean;
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** Like kubectl() but throws with kubectl's stderr when it exits non-zero. */
  kubectlOk(args: string[], opts?: KubectlOptions): Promise<string>;
  /** A kubeconfig for a user authenticated by a client cert (CN=user, O=groups). */
  userKubeconfig(user: string, groups?: string[]): Promise<string>;
  /** A kubeconfig for a ServiceAccount, with a token from the TokenRequest API. */
  serviceAccountKubeconfig(namespace: string, name: string, durationSeconds?: number): Promise<string>;
  /** Restarts kube-apiserver on the same port and data (etcd keeps running). */
  restartApiServer(): Promise<void>;
  /**
   * Stops kube-controller-manager until `resume()` (with `scheduling` only): what its controllers
   * wrote stays as it was, e.g. a PodDisruptionBudget's status, as when a controller-manager lags
   * or is down. Resolves once it has stopped; `resume()` once it is healthy again.
   */
  pauseControllerManager(): Promise<{ resume(): Promise<void> }>;
  stop(): Promise<void>;
}

/**
 * What the operator's ServiceAccounts do, request by request (metadata only): the RBAC test
 * compares it with deploy/'s rules to find permissions granted but never used.
 */
/** Where tests run a namespaced install of the operator (its requests are audited too). */
export const NAMESPACED_OPERATOR_NS = "rqlite-operator-team";

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts:rqlite-operator-system", "system:serviceaccounts:${NAMESPACED_OPERATOR_NS}"]
  - level: None
`;

class StartupError extends Error {
  constructor(
    message: string,
    readonly portClash: boolean,
  ) {
    super(message);
  }
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  if (opts.apiPort !== undefined && (await portInUse(opts.apiPort))) {
    throw new Error(
      `port 127.0.0.1:${opts.apiPort} is already in use, so kube-apiserver cannot listen on it; stop whatever holds it or leave the port unset to pick a free one`,
    );
  }
  const assets = opts.assetsDir ?? (await resolveAssets(process.env, opts.scheduling ? SCHEDULING_TOOLS : []));
  // A randomly picked port can be taken between the check and the bind; try fresh ports then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(assets, opts);
    } catch (err) {
      if (!(err instanceof StartupError && err.portClash && opts.apiPort === undefined && attempt < 3)) throw err;
    }
  }
}

async function startOnce(assets: string, opts: ControlPlaneOptions): Promise<ControlPlane> {
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), "rqo-testenv-"));
  const procs = new ProcessGroup();
  procs.removeOnExit(dir);
  let podNetwork: PodNetwork | undefined;
  let volumes: HostPathVolumeTracker | undefined;
  let controllerManager: StartedComponent | undefined;
  let startCm: (() => Promise<StartedComponent>) | undefined;
  try {
    if (opts.podNetwork) podNetwork = await startPodNetwork(dir);
    const pki = await generatePki(dir, opts.realNodes?.servingIPs);
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), opts.apiPort ?? (await freePort())];
    await mkdir(join(dir, "etcd"));
    const etcd = procs.start(
      "etcd",
      join(assets, "etcd"),
      [
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
        // Test data is thrown away: skipping fsync makes etcd several times faster on small disks.
        "--unsafe-no-fsync",
        "--log-level=warn",
      ],
      join(dir, "etcd.log"),
    );
    await waitUntil(etcd, "etcd", 20_000, () => httpOk(`http://127.0.0.1:${etcdPort}/health`));

    const url = `https://127.0.0.1:${apiPort}`;
    const auditPolicy = join(dir, "audit-policy.yaml");
    await writeFile(auditPolicy, AUDIT_POLICY);
    const apiArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--secure-port=${apiPort}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--cert-dir=${join(dir, "apiserver-certs")}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      "--authorization-mode=RBAC",
      "--service-cluster-ip-range=10.0.0.0/24",
      "--service-account-issuer=https://kubernetes.default.svc",
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      // No controller-manager creates default ServiceAccounts here, as in envtest; with real
      // nodes one does, and Pods need the credentials the plugin mounts.
      ...(opts.realNodes ? [] : ["--disable-admission-plugins=ServiceAccount"]),
      // As hardened clusters do: setting blockOwnerDeletion needs update on the owner's
      // finalizers, so the controller's RBAC is checked for it.
      "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
      `--audit-policy-file=${auditPolicy}`,
      `--audit-log-path=${join(dir, "audit.log")}`,
      "--audit-log-format=json",
      "--allow-privileged=true",
      "--profiling=false",
      ...(podNetwork ? [podNetwork.apiServerArg] : []),
      ...(opts.extraApiServerArgs ?? []),
    ];
    const apiLog = join(dir, "kube-apiserver.log");
    let apiserver = procs.start("kube-apiserver", join(assets, "kube-apiserver"), apiArgs, apiLog);
    const readyz = () => httpsOk(`${url}/readyz`, pki);
    await waitUntil(apiserver, "kube-apiserver", 60_000, readyz);

    const kubeconfigPath = join(dir, "admin.kubeconfig");
    await writeFile(
      kubeconfigPath,
      renderKubeconfig(url, pki.caCert, "admin", { clientCert: pki.adminCert, clientKey: pki.adminKey }),
    );

    const kubectl = (args: string[], o: KubectlOptions = {}) => runKubectl(o.kubeconfig ?? kubeconfigPath, args, o);
    const kubectlOk = async (args: string[], o: KubectlOptions = {}) => {
      const r = await kubectl(args, o);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim()}`);
      return r.stdout;
    };
    if (opts.scheduling) {
      const s = opts.scheduling === true ? {} : opts.scheduling;
      const ctx = { dir, url, pki, procs, assets };
      // Record PV folders before anything can provision one.
      volumes = await trackHostPathVolumes(kubeconfigPath, (folder) => procs.removeOnExit(folder));
      startCm = () => startControllerManager(ctx, { ...s, extraArgs: s.extraControllerManagerArgs });
      [, controllerManager] = await Promise.all([
        startScheduler(ctx, s.extraSchedulerArgs),
        startCm(),
        kubectlOk(["apply", "-f", "-"], { input: storageClassManifests() }),
      ]);
    }
    const startupMs = Date.now() - started;
    let stopped: Promise<void> | undefined;
    return {
      url,
      dir,
      kubeconfigPath,
      pki,
      startupMs,
      scheduling: Boolean(opts.scheduling),
      podNetwork: podNetwork !== undefined,
      kubectl,
      kubectlOk,
      auditLogPath: join(dir, "audit.log"),
      get pids() {
        return procs.pids;
      },
      async userKubeconfig(user, groups = []) {
        const subject = [...groups.map((g) => `/O=${g}`), `/CN=${user}`].join("");
        const safe = user.replace(/[^a-zA-Z0-9.-]/g, "_");
        const c = await issueCert(dir, `user-${safe}`, subject, "extendedKeyUsage=clientAuth\n");
        const path = join(dir, `user-${safe}.kubeconfig`);
        await writeFile(path, renderKubeconfig(url, pki.caCert, user, { clientCert: c.cert, clientKey: c.key }));
        return path;
      },
      async serviceAccountKubeconfig(namespace, name, durationSeconds = 3600) {
        const token = (
          await kubectlOk(["create", "token", name, "-n", namespace, `--duration=${durationSeconds}s`])
        ).trim();
        const path = join(dir, `sa-${namespace}-${name}.kubeconfig`);
        await writeFile(
          path,
          renderKubeconfig(url, pki.caCert, `system:serviceaccount:${namespace}:${name}`, { token }),
        );
        return path;
      },
      async restartApiServer() {
        await procs.stopOne(apiserver);
        apiserver = procs.start("kube-apiserver", join(assets, "kube-apiserver"), apiArgs, apiLog);
        await waitUntil(apiserver, "kube-apiserver", 60_000, readyz);
      },
      async pauseControllerManager() {
        if (!controllerManager || !startCm)
          throw new Error("this control plane runs no kube-controller-manager; start it with `scheduling`");
        const restart = startCm;
        await procs.stopOne(controllerManager.proc);
        return {
          resume: async () => {
            controllerManager = await restart();
          },
        };
      },
      stop() {
        stopped ??= (async () => {
          await volumes?.stop();
          await procs.stopAll();
          await podNetwork?.stop();
        })();
        return stopped;
      },
    };
  } catch (err) {
    await volumes?.stop();
    await procs.stopAll();
    await podNetwork?.stop();
    throw err;
  }
}

/** Polls until check() passes; fails fast with the log's tail when the process exits first. */
async function waitUntil(proc: Managed, what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exit: string | undefined;
  void proc.exited.then((e) => (exit = e));
  while (Date.now() < deadline) {
    if (exit !== undefined) {
      const tail = proc.tail(20);
      const clash = /address already in use/i.test(tail);
      const cause = clash
        ? `${what} could not bind its port: address already in use`
        : `${what} exited (${exit}) before it was ready`;
      throw new StartupError(`${cause}; log ${proc.logFile}:\n${tail}`, clash);
    }
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new StartupError(
    `${what} was not ready within ${timeoutMs / 1000} s; log ${proc.logFile}:\n${proc.tail(20)}`,
    false,
  );
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

export function runKubectl(kubeconfig: string, args: string[], opts: KubectlOptions = {}): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = execFile(
      "kubectl",
      ["--kubeconfig", kubeconfig, ...args],
      {
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 << 20,
      },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === "number"
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ stdout, stderr: stderr || (err && code === 1 && !stderr ? err.message : ""), code });
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}
