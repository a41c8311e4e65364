// The local runtime: plays kubelet for the operator's Pods on one machine. Each Pod that the
// controller creates gets a real rqlited process, bound to the Pod's loopback address (see
// shared/loopback-address.ts) and started with the Pod's own arguments; the Pod's status follows
// the process (Running, podIP, Ready from its readiness probe). A Pod's PVC is a folder that
// outlives the Pod, as a volume does. The one difference from a cluster: peers are named by
// loopback address (controller flag --addressing=loopback) instead of cluster DNS.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { get as httpGet, type IncomingMessage } from "node:http";
import { get as httpsGet } from "node:https";
import { join } from "node:path";
import type { V1Container, V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import { loopbackAddress } from "../shared/loopback-address.js";
import { podNetworkIP } from "../testenv/podNetwork.js";
import { DATA_VOLUME, LABEL_MANAGED_BY, MANAGER_NAME, RQLITE_CONTAINER } from "../shared/names.js";
import { Informer } from "../controller/runtime/informer.js";
import type { KubeClient } from "../controller/runtime/kubeClient.js";
import { ProcessGroup, type Managed } from "../testenv/processes.js";

const DATA_MOUNT = "/rqlite/file";
const PVC_PROTECTION = "kubernetes.io/pvc-protection";
const PROBE_PERIOD_MS = 1000;

export interface LocalRuntimeOptions {
  client: KubeClient;
  /** Folder with rqlited-<version> binaries (hack/build-binaries.sh's assets folder). */
  binDir: string;
  /** Where PVC folders and process logs go. */
  stateDir: string;
  /** Only Pods in these namespaces; all when undefined. */
  namespaces?: string[];
  /** Report each Pod's IP on the control plane's pod network (testenv/podNetwork.ts), not loopback. */
  podNetwork?: boolean;
  log?: (msg: string) => void;
}

interface Node {
  key: string;
  pod: V1Pod;
  address: string;
  proc?: Managed;
  restarts: number;
  ready: boolean;
  stopping: boolean;
  /** Stopped by SIGSTOP: neither serving nor exiting, as on a machine that hung. */
  frozen: boolean;
  probe?: NodeJS.Timeout;
}

const podKey = (p: { metadata?: { namespace?: string; name?: string } }) =>
  `${p.metadata!.namespace}/${p.metadata!.name}`;

export class LocalRuntime {
  private readonly procs = new ProcessGroup();
  private readonly nodes = new Map<string, Node>();
  private readonly pods: Informer<V1Pod>;
  private readonly pvcs: Informer<V1PersistentVolumeClaim>;
  private readonly log: (msg: string) => void;

  constructor(private readonly opts: LocalRuntimeOptions) {
    this.log = opts.log ?? (() => {});
    const selector = {
      client: opts.client,
      namespaces: opts.namespaces,
      labelSelector: `${LABEL_MANAGED_BY}=${MANAGER_NAME}`,
      apiPath: "/api/v1",
    };
    this.pods = new Informer<V1Pod>({ ...selector, resource: "pods" });
    this.pvcs = new Informer<V1PersistentVolumeClaim>({ ...selector, resource: "persistentvolumeclaims" });
    this.pods.on("add", (p) => void this.sync(p));
    this.pods.on("update", (p) => void this.sync(p));
    this.pods.on("delete", (p) => {
      void this.stopNode(podKey(p));
      // Its claims may have waited for this Pod to go before they can be released.
      for (const v of p.spec?.volumes ?? []) {
        const pvc = v.persistentVolumeClaim && this.pvcs.get(p.metadata!.namespace!, v.persistentVolumeClaim.claimName);
        if (pvc) void this.releaseVolume(pvc);
      }
    });
    this.pvcs.on("delete", (pvc) => void rm(this.volumeDir(pvc), { recursive: true, force: true }));
    this.pvcs.on("update", (pvc) => void this.releaseVolume(pvc));
    this.pvcs.on("add", (pvc) => this.launchWaiting(pvc));
  }

  async start(): Promise<void> {
    this.pods.start();
    this.pvcs.start();
    await Promise.all([this.pods.waitForSync(), this.pvcs.waitForSync()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.pods.stop(), this.pvcs.stop()]);
    for (const node of this.nodes.values()) {
      node.stopping = true;
      clearInterval(node.probe);
      if (node.frozen) node.proc?.child.kill("SIGKILL");
    }
    await this.procs.stopAll();
  }

  /** The loopback address of a running Pod's rqlited, e.g. for a test's client. */
  address(namespace: string, pod: string): string {
    return loopbackAddress(namespace, pod);
  }

  /** Kills a Pod's process as a crash would; the runtime restarts it as the kubelet does. */
  kill(namespace: string, pod: string, signal: NodeJS.Signals = "SIGKILL"): void {
    const node = this.nodes.get(`${namespace}/${pod}`);
    if (!node?.proc) throw new Error(`no rqlited runs for Pod ${namespace}/${pod}`);
    node.proc.child.kill(signal);
  }

  /**
   * Freezes a Pod's process (SIGSTOP), as a hung machine would: it neither serves nor exits, so
   * its probe fails and nothing restarts it. It stays frozen until its Pod goes.
   */
  freeze(namespace: string, pod: string): void {
    const node = this.nodes.get(`${namespace}/${pod}`);
    if (!node?.proc) throw new Error(`no rqlited runs for Pod ${namespace}/${pod}`);
    node.proc.child.kill("SIGSTOP");
    node.frozen = true;
  }

  /** By uid: a PVC deleted and created again under the same name is a new, empty volume. */
  private volumeDir(pvc: V1PersistentVolumeClaim): string {
    return join(this.opts.stateDir, "volumes", pvc.metadata!.namespace!, pvc.metadata!.uid!);
  }

  /**
   * Plays the pvc-protection controller, which is not part of this control plane: a PVC being
   * deleted keeps its finalizer until no Pod uses it.
   */
  private async releaseVolume(pvc: V1PersistentVolumeClaim): Promise<void> {
    const finalizers = pvc.metadata?.finalizers ?? [];
    if (!pvc.metadata?.deletionTimestamp || !finalizers.includes(PVC_PROTECTION)) return;
    const inUse = this.pods
      .list(pvc.metadata.namespace)
      .some((p) => p.spec?.volumes?.some((v) => v.persistentVolumeClaim?.claimName === pvc.metadata!.name));
    if (inUse) return;
    await this.opts.client
      .request({
        method: "PATCH",
        path: `/api/v1/namespaces/${pvc.metadata.namespace}/persistentvolumeclaims/${pvc.metadata.name}`,
        body: {
          metadata: {
            finalizers: finalizers.filter((f) => f !== PVC_PROTECTION),
            resourceVersion: pvc.metadata.resourceVersion,
          },
        },
        contentType: "application/merge-patch+json",
        timeoutMs: 10_000,
      })
      .catch((err: Error) =>
        this.log(`releasing PVC ${pvc.metadata!.namespace}/${pvc.metadata!.name}: ${err.message}`),
      );
  }

  /** Starts Pods that waited for this claim. */
  private launchWaiting(pvc: V1PersistentVolumeClaim): void {
    for (const pod of this.pods.list(pvc.metadata!.namespace)) {
      if (pod.spec?.volumes?.some((v) => v.persistentVolumeClaim?.claimName === pvc.metadata!.name))
        void this.sync(pod);
    }
  }

  private async sync(pod: V1Pod): Promise<void> {
    const key = podKey(pod);
    if (pod.metadata?.deletionTimestamp) return this.stopNode(key);
    const known = this.nodes.get(key);
    if (known) {
      known.pod = pod;
      return;
    }
    const node: Node = {
      key,
      pod,
      address: loopbackAddress(pod.metadata!.namespace!, pod.metadata!.name!),
      restarts: 0,
      ready: false,
      stopping: false,
      frozen: false,
    };
    this.nodes.set(key, node);
    await this.launch(node);
  }

  private async launch(node: Node): Promise<void> {
    const { pod } = node;
    const ns = pod.metadata!.namespace!;
    const container = pod.spec!.containers.find((c) => c.name === RQLITE_CONTAINER);
    const claim = pod.spec!.volumes?.find((v) => v.name === DATA_VOLUME)?.persistentVolumeClaim?.claimName;
    const version = container?.image?.split(":").pop();
    const problem = !container
      ? `no ${RQLITE_CONTAINER} container`
      : !claim
        ? `no ${DATA_VOLUME} volume with a PVC`
        : undefined;
    if (problem) return this.reportWaiting(node, "CreateContainerConfigError", problem);
    const binary = join(this.opts.binDir, `rqlited-${version}`);
    const pvc = this.pvcs.get(ns, claim!);
    if (!pvc || pvc.metadata?.deletionTimestamp) {
      // As a kubelet would, wait for the claim; a PVC event or the next Pod update retries.
      this.nodes.delete(node.key);
      return this.reportWaiting(node, "ContainerCreating", `waiting for PVC ${claim}`);
    }
    const volume = this.volumeDir(pvc);
    await mkdir(volume, { recursive: true });
    let mounts: Array<[string, string]>;
    try {
      mounts = [[DATA_MOUNT, volume], ...(await this.secretMounts(node, container!))];
    } catch (err) {
      this.nodes.delete(node.key);
      return this.reportWaiting(node, "CreateContainerConfigError", (err as Error).message);
    }
    const args = (container!.args ?? []).map((a) => mounts.reduce((arg, [from, to]) => arg.replaceAll(from, to), a));
    await mkdir(join(this.opts.stateDir, "logs"), { recursive: true });
    const proc = this.procs.start(
      node.key,
      binary,
      args,
      join(this.opts.stateDir, "logs", `${ns}_${pod.metadata!.name}.log`),
    );
    node.proc = proc;
    const exited = await Promise.race([proc.exited, new Promise<undefined>((r) => setTimeout(r, 300))]);
    if (exited?.startsWith("failed to start")) {
      return this.reportWaiting(
        node,
        "ErrImagePull",
        `no local rqlited for image ${container!.image}: ${binary} is missing; build it with hack/build-binaries.sh`,
      );
    }
    this.log(`started rqlited for Pod ${node.key} on ${node.address} (${container!.image})`);
    node.ready = false;
    await this.patchStatus(node, container!);
    clearInterval(node.probe);
    node.probe = setInterval(() => void this.probe(node, container!), PROBE_PERIOD_MS);
    void proc.exited.then((how) => this.onExit(node, proc, how));
  }

  /** Writes each Secret volume of the container to files, as the kubelet does; returns mountPath → folder. */
  private async secretMounts(node: Node, container: V1Container): Promise<Array<[string, string]>> {
    const ns = node.pod.metadata!.namespace!;
    const out: Array<[string, string]> = [];
    for (const mount of container.volumeMounts ?? []) {
      const secretName = node.pod.spec!.volumes?.find((v) => v.name === mount.name)?.secret?.secretName;
      if (!secretName) continue;
      const secret = await this.opts.client
        .request<{ data?: Record<string, string> }>({
          method: "GET",
          path: `/api/v1/namespaces/${ns}/secrets/${secretName}`,
          timeoutMs: 10_000,
        })
        .catch((err: Error) => {
          throw new Error(`Secret ${ns}/${secretName} for volume ${mount.name}: ${err.message}`);
        });
      const dir = join(this.opts.stateDir, "secrets", ns, node.pod.metadata!.name!, mount.name);
      await mkdir(dir, { recursive: true });
      for (const [key, value] of Object.entries(secret.data ?? {}))
        await writeFile(join(dir, key), Buffer.from(value, "base64"), { mode: 0o600 });
      out.push([mount.mountPath, dir]);
    }
    return out;
  }

  /** As the kubelet with restartPolicy Always: a crashed process comes back, with backoff. */
  private async onExit(node: Node, proc: Managed, how: string): Promise<void> {
    if (node.stopping || node.proc !== proc) return;
    node.restarts++;
    node.ready = false;
    const delay = Math.min(1000 * 2 ** (node.restarts - 1), 10_000);
    this.log(`rqlited of Pod ${node.key} exited (${how}); restarting in ${delay} ms`);
    await this.patchStatus(
      node,
      node.pod.spec!.containers.find((c) => c.name === RQLITE_CONTAINER)!,
    ).catch(() => {});
    setTimeout(() => {
      if (!node.stopping && this.nodes.get(node.key) === node) void this.launch(node);
    }, delay);
  }

  private async probe(node: Node, container: V1Container): Promise<void> {
    const probe = container.readinessProbe?.httpGet;
    const ready = await probeOk(probe?.scheme === "HTTPS", node.address, probe?.path ?? "/readyz");
    if (ready === node.ready || node.stopping) return;
    node.ready = ready;
    await this.patchStatus(node, container).catch((err: Error) => this.log(`status of ${node.key}: ${err.message}`));
  }

  private async patchStatus(node: Node, container: V1Container): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const running = node.proc?.child.exitCode === null && node.proc.child.signalCode === null;
    const podIP = this.opts.podNetwork ? podNetworkIP(node.address) : node.address;
    const cond = (type: string, ok: boolean) => ({ type, status: ok ? "True" : "False", lastTransitionTime: now });
    await this.writeStatus(node, {
      phase: "Running",
      hostIP: "127.0.0.1",
      podIP,
      podIPs: [{ ip: podIP }],
      startTime: node.pod.status?.startTime ?? now,
      conditions: [
        cond("PodScheduled", true),
        cond("Initialized", true),
        cond("ContainersReady", node.ready),
        cond("Ready", node.ready),
      ],
      containerStatuses: [
        {
          name: RQLITE_CONTAINER,
          image: container.image,
          imageID: "",
          ready: node.ready,
          started: running,
          restartCount: node.restarts,
          state: running ? { running: { startedAt: now } } : { waiting: { reason: "CrashLoopBackOff" } },
        },
      ],
    });
  }

  private async reportWaiting(node: Node, reason: string, message: string): Promise<void> {
    this.log(`Pod ${node.key}: ${reason}: ${message}`);
    await this.writeStatus(node, {
      phase: "Pending",
      conditions: [{ type: "Ready", status: "False", reason, message }],
      containerStatuses: [
        {
          name: RQLITE_CONTAINER,
          image: "",
          imageID: "",
          ready: false,
          restartCount: node.restarts,
          state: { waiting: { reason, message } },
        },
      ],
    }).catch(() => {});
  }

  private async writeStatus(node: Node, status: object): Promise<void> {
    const [ns, name] = node.key.split("/") as [string, string];
    await this.opts.client.request({
      method: "PATCH",
      path: `/api/v1/namespaces/${ns}/pods/${name}/status`,
      body: { status },
      contentType: "application/merge-patch+json",
      timeoutMs: 10_000,
    });
  }

  private async stopNode(key: string): Promise<void> {
    const node = this.nodes.get(key);
    if (!node) return;
    this.nodes.delete(key);
    node.stopping = true;
    clearInterval(node.probe);
    // A hung machine does not shut down cleanly, and a stopped process would sit out the grace period.
    if (node.frozen) node.proc?.child.kill("SIGKILL");
    if (node.proc) await this.procs.stopOne(node.proc);
    this.log(`stopped rqlited of Pod ${key}`);
  }
}

/**
 * One readiness probe as the kubelet sends it: the probe's scheme (rqlited serves only HTTPS once
 * it has -http-cert), and for HTTPS no certificate check, as the kubelet does not verify either.
 * Success is a status from 200 to 399.
 */
function probeOk(https: boolean, address: string, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const url = `${https ? "https" : "http"}://${address}:4001${path}`;
    const done = (ok: boolean) => {
      req.destroy();
      resolve(ok);
    };
    const onResponse = (res: IncomingMessage) => {
      res.resume();
      done((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
    };
    const req = https
      ? httpsGet(url, { agent: false, rejectUnauthorized: false, timeout: 2000 }, onResponse)
      : httpGet(url, { agent: false, timeout: 2000 }, onResponse);
    req.on("timeout", () => done(false));
    req.on("error", () => resolve(false));
  });
}
