// The whole operator on one machine: the test control plane, the CRD, the controller's RBAC,
// two controller replicas (as their ServiceAccount, loopback addressing) and the local runtime
// (with `nodes`, on a plane that schedules: kube-scheduler, kube-controller-manager, Nodes), and
// on request the S3-compatible server backups go to (testenv/s3.ts).
// Used by `npm run local` and by the end-to-end tests.
import { join } from "node:path";
import { Registry } from "prom-client";
import { KubeClient, loadKubeConfig } from "../controller/runtime/kubeClient.js";
import { buildBinaries, cacheAssetsDir, RQLITED_TOOLS } from "../testenv/assets.js";
import { operatorKubeconfig, startController, type ControllerProcess } from "../testenv/controller.js";
import { startControlPlane, type ControlPlane } from "../testenv/controlplane.js";
import { startS3Server, type S3TestServer } from "../testenv/s3.js";
import { startLocalWebhook } from "../testenv/webhook.js";
import type { NodeSpec } from "./nodes.js";
import { LocalRuntime } from "./runtime.js";

export const OPERATOR_NAMESPACE = "rqlite-operator-system";

export interface LocalStack {
  cp: ControlPlane;
  runtime: LocalRuntime;
  controllers: ControllerProcess[];
  /** The S3 server of the `s3` option; stopped with the stack. */
  s3?: S3TestServer;
  /** Starts one more controller replica (e.g. after a test killed one). */
  addController(name: string): Promise<ControllerProcess>;
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  /** Use a running control plane instead of starting one (tests share theirs). */
  controlPlane?: ControlPlane;
  replicas?: number;
  /** Controller flags, e.g. faster lease timings in tests. */
  controllerArgs?: string[];
  /** Namespaces the controllers and the runtime look at; all when undefined. */
  namespaces?: string[];
  /** Pods reachable through pods/proxy (testenv/podNetwork.ts), when this stack starts its own plane. */
  podNetwork?: boolean;
  /**
   * The runtime is the kubelet of these Nodes (a count, or names and zones; see local/nodes.ts).
   * A plane this stack starts then runs the scheduler and controller-manager; a given plane must
   * have been started with `scheduling`. Default 0: no Nodes, every Pod runs unscheduled.
   */
  nodes?: number | NodeSpec[];
  /** Start and register the admission webhook (default true); with one namespace, only for it. */
  webhook?: boolean;
  /** Images the runtime runs another program for (LocalRuntimeOptions.standIns). */
  standIns?: Record<string, string[]>;
  /** Start the S3-compatible server (versitygw) with these buckets, beside the control plane. */
  s3?: { buckets: string[] };
  /**
   * The hack/tools rqlited builds the runtime can run (default RQLITED_TOOLS: the versions the
   * tests roll between); an image whose version is not built cannot start.
   */
  rqlited?: string[];
  /**
   * --s3-endpoint-allow of the webhook and the controllers: what tenants' S3 endpoints may
   * reach beyond public addresses, e.g. "127.0.0.1/32" for the loopback S3 server. Unset: the
   * operator's default, which refuses loopback.
   */
  s3EndpointAllow?: string;
  log?: (msg: string) => void;
}

export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const log = opts.log ?? (() => {});
  const ownsPlane = !opts.controlPlane;
  const withNodes = typeof opts.nodes === "number" ? opts.nodes > 0 : (opts.nodes?.length ?? 0) > 0;
  if (withNodes && opts.controlPlane && !opts.controlPlane.scheduling)
    throw new Error(
      "startLocalStack: nodes need a control plane that schedules; start it with startControlPlane({ scheduling: true })",
    );
  // Everything that may need building starts at once: the plane's binaries, rqlited and the S3
  // server, so that on a cold cache the builds share the cores (hack/build-binaries.sh waits for a
  // tool another caller is building). The S3 server builds at a lower priority and is awaited
  // last: nothing else waits for it. A failure is reported once the plane is up, and stops all.
  const s3Starting = opts.s3
    ? startS3Server({ buckets: opts.s3.buckets, buildEnv: { ...process.env, RQLITE_OPERATOR_BUILD_NICE: "10" } })
    : undefined;
  s3Starting?.catch(() => {});
  const rqlitedBuilt = buildBinaries(opts.rqlited ?? RQLITED_TOOLS, { ...process.env, TESTENV_QUIET: "1" });
  rqlitedBuilt.catch(() => {});
  let cp: ControlPlane;
  try {
    cp = opts.controlPlane ?? (await startControlPlane({ podNetwork: opts.podNetwork, scheduling: withNodes }));
  } catch (err) {
    await s3Starting?.then((s) => s.close()).catch(() => {});
    throw err;
  }
  const cleanups: Array<() => Promise<void>> = ownsPlane ? [() => cp.stop()] : [];
  const allowArgs = opts.s3EndpointAllow ? [`--s3-endpoint-allow=${opts.s3EndpointAllow}`] : [];
  try {
    const kubeconfig = await operatorKubeconfig(cp, 24 * 3600);
    if (opts.webhook ?? true) {
      const webhook = await startLocalWebhook(cp, {
        namespace: opts.namespaces?.length === 1 ? opts.namespaces[0] : undefined,
        args: allowArgs,
      });
      cleanups.unshift(() => webhook.stop());
      log(`admission webhook serving on 127.0.0.1:${webhook.port}`);
    }

    await rqlitedBuilt;
    // The runtime plays kubelet, so it acts as the admin, as a node's credentials would.
    const binDir = cacheAssetsDir();
    const runtime = new LocalRuntime({
      client: new KubeClient(loadKubeConfig(cp.kubeconfigPath), new Registry()),
      binDir,
      stateDir: join(cp.dir, "runtime"),
      namespaces: opts.namespaces,
      podNetwork: cp.podNetwork,
      nodes: opts.nodes,
      ...(opts.standIns ? { standIns: opts.standIns } : {}),
      log,
    });
    await runtime.start();
    cleanups.unshift(() => runtime.stop());

    const controllers: ControllerProcess[] = [];
    const addController = async (name: string) => {
      const c = await startController({
        kubeconfig,
        logDir: cp.dir,
        name,
        env: opts.namespaces ? { WATCH_NAMESPACES: opts.namespaces.join(",") } : {},
        args: [
          "--leader-elect",
          `--leader-election-namespace=${OPERATOR_NAMESPACE}`,
          ...allowArgs,
          ...(opts.controllerArgs ?? []),
        ],
      });
      controllers.push(c);
      return c;
    };
    for (let i = 0; i < (opts.replicas ?? 2); i++) await addController(`controller-${i}`);
    cleanups.unshift(() => Promise.all(controllers.map((c) => c.stop())).then(() => {}));
    log(`controller replicas: ${controllers.map((c) => c.proc.child.pid).join(", ")}`);

    const s3 = await s3Starting?.catch((err: Error) => {
      throw new Error(`starting the S3 server for backups: ${err.message}`, { cause: err });
    });
    if (s3) {
      cleanups.unshift(() => s3.close());
      log(
        `S3 server (versitygw) serving on ${s3.endpoint} with bucket(s) ${opts.s3!.buckets.join(", ")} (data in ${s3.root})`,
      );
    }

    return {
      cp,
      runtime,
      controllers,
      ...(s3 ? { s3 } : {}),
      addController,
      async stop() {
        for (const c of cleanups) await c();
      },
    };
  } catch (err) {
    for (const c of cleanups) await c().catch(() => {});
    throw err;
  }
}
