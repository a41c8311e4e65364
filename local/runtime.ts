// The local runtime: plays kubelet for the operator's Pods on one machine. Each Pod that the
// controller creates gets a real rqlited process, bound to the Pod's loopback address (see
// shared/loopback-address.ts) and started with the Pod's own arguments; the Pod's status follows
// the process (Running, podIP, Ready from its readiness probe). Its startup and liveness probes
// run as the kubelet runs them: liveness waits for startup, and a probe that fails
// failureThreshold times in a row kills the process, which is restarted and counted in
// containerStatuses.restartCount (a probe too tight for a slow start shows here as it would in a
// cluster). A Pod's PVC is a folder that
// outlives the Pod, as a volume does. The one difference from a cluster: peers are named by
// loopback address (controller flag --addressing=loopback) instead of cluster DNS.
//
// Two modes. Without nodes (the default) there is no scheduler: every Pod runs, and a PVC is a
// folder of the runtime's own. With nodes (option `nodes`, on a control plane started with
// `scheduling`), the runtime is the kubelet of N Node objects (local/nodes.ts): it runs only the
// Pods the scheduler bound to one of them, mounts the hostPath folder of the PV the PV controller
// bound (local/volumes.ts), finishes a graceful deletion by deleting the Pod as a kubelet does,
// and a test can stop, partition and restore a node. In nodes mode it also runs the Pod of a
// `pvc` RqBackup's Job (controller/rqbackup/job.ts) as a Node process of toFile.ts, with the
// claim's PV folder mounted, and reports how it ended as a kubelet would; so too the loader Pod of
// a restore from a claim (fromFile.ts).
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { get as httpGet, type IncomingMessage } from "node:http";
import { get as httpsGet } from "node:https";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { V1Container, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod, V1Probe } from "@kubernetes/client-node";
import { loopbackAddress } from "../shared/loopback-address.js";
import { podNetworkIP } from "../testenv/podNetwork.js";
import { DATA_VOLUME, LABEL_MANAGED_BY, MANAGER_NAME, RQLITE_CONTAINER } from "../shared/names.js";
import { Informer } from "../controller/runtime/informer.js";
import { LABEL_BACKUP_JOB } from "../controller/rqbackup/job.js";
import { LABEL_RECOVERY_OF } from "../controller/rqcluster/render/recovery.js";
import { LABEL_RESTORE_OF } from "../controller/rqcluster/backup/loader.js";
import type { KubeClient } from "../controller/runtime/kubeClient.js";
import { objectPath } from "../controller/runtime/paths.js";
import { freezeProcess, ProcessGroup, type Managed } from "../testenv/processes.js";
import { defaultNodeSpecs, NodeAgent, type NodeSpec, type NodeState } from "./nodes.js";
import { boundFolder, resizeStep } from "./volumes.js";

const DATA_MOUNT = "/rqlite/file";
const PVC_PROTECTION = "kubernetes.io/pvc-protection";
const PROBE_PERIOD_MS = 1000;
/** How soon a Pod whose Secret or key is missing is tried again. */
const CONFIG_RETRY_MS = 3000;
/** The repository root, where the backup Job's entry point is run from source with tsx. */
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

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
  /**
   * Be the kubelet of these nodes (a count: node-a, node-b, ... in zones zone-a..c; see
   * local/nodes.ts). Needs a control plane with `scheduling`. 0 or absent: no nodes, every Pod runs.
   */
  nodes?: number | NodeSpec[];
  /**
   * Images run by another program instead of rqlited, as a tenant's own image would be: image →
   * the command and its first arguments, the Pod's own arguments following (e.g. a hostile
   * server, testenv/hostileRqlite.ts, for the tests of the operator's bounds).
   */
  standIns?: Record<string, string[]>;
  log?: (msg: string) => void;
}

export interface StopNodeOptions {
  /** What happens to the node's rqlited: frozen by SIGSTOP (default), as a hung machine, or killed. */
  processes?: "freeze" | "kill";
}

interface PodRun {
  key: string;
  pod: V1Pod;
  address: string;
  proc?: Managed;
  restarts: number;
  ready: boolean;
  /** The startup probe passed (or there is none): liveness and readiness count from then on. */
  started: boolean;
  stopping: boolean;
  /** Stopped by SIGSTOP: neither serving nor exiting, as on a machine that hung. */
  frozen: boolean;
  /** The node it runs on, in nodes mode. */
  nodeName?: string;
  /** Killed because its node was stopped: not restarted until the node is restored. */
  downWithNode: boolean;
  probe?: NodeJS.Timeout;
}

const podKey = (p: { metadata?: { namespace?: string; name?: string } }) =>
  `${p.metadata!.namespace}/${p.metadata!.name}`;

export class LocalRuntime {
  private readonly procs = new ProcessGroup();
  private readonly runs = new Map<string, PodRun>();
  private readonly pods: Informer<V1Pod>;
  private readonly pvcs: Informer<V1PersistentVolumeClaim>;
  /** Nodes mode only: the PVs the claims are bound to. */
  private readonly pvs?: Informer<V1PersistentVolume>;
  private readonly agents = new Map<string, NodeAgent>();
  private readonly log: (msg: string) => void;
  private stopped = false;

  constructor(private readonly opts: LocalRuntimeOptions) {
    this.log = opts.log ?? (() => {});
    const specs = typeof opts.nodes === "number" ? defaultNodeSpecs(opts.nodes) : (opts.nodes ?? []);
    for (const spec of specs) {
      if (this.agents.has(spec.name))
        throw new Error(`nodes: "${spec.name}" is listed twice; give each node its own name`);
      this.agents.set(spec.name, new NodeAgent(opts.client, spec, this.log));
    }
    const selector = {
      client: opts.client,
      namespaces: opts.namespaces,
      labelSelector: `${LABEL_MANAGED_BY}=${MANAGER_NAME}`,
      apiVersion: "v1",
    };
    this.pods = new Informer<V1Pod>({ ...selector, resource: "pods" });
    // With nodes, every claim: a Pod may mount any bound claim, and the resizer serves them all.
    this.pvcs = new Informer<V1PersistentVolumeClaim>({
      ...selector,
      ...(this.withNodes ? { labelSelector: undefined } : {}),
      resource: "persistentvolumeclaims",
    });
    this.pods.on("add", (p) => this.detached(this.sync(p)));
    this.pods.on("update", (p) => this.detached(this.sync(p)));
    if (this.withNodes) {
      // The PV controller binds claims, kube-controller-manager's pvc-protection controller
      // releases them and the PV's reclaim policy removes their folders: the runtime only mounts.
      this.pvs = new Informer<V1PersistentVolume>({
        client: opts.client,
        apiVersion: "v1",
        resource: "persistentvolumes",
      });
      this.pods.on("delete", (p) => {
        const run = this.runs.get(podKey(p));
        if (!run || this.nodeUp(run.nodeName)) this.detached(this.stopPod(podKey(p)));
      });
      this.pvcs.on("add", (pvc) => this.launchWaiting(pvc));
      this.pvcs.on("update", (pvc) => {
        this.launchWaiting(pvc);
        this.detached(this.resize(pvc));
      });
      const onPv = (pv: V1PersistentVolume) => {
        const ref = pv.spec?.claimRef;
        const pvc = ref?.namespace && ref.name ? this.pvcs.get(ref.namespace, ref.name) : undefined;
        if (pvc) {
          this.launchWaiting(pvc);
          this.detached(this.resize(pvc));
        }
      };
      this.pvs.on("add", onPv);
      this.pvs.on("update", onPv);
    } else {
      this.pods.on("delete", (p) => {
        this.detached(this.stopPod(podKey(p)));
        // Its claims may have waited for this Pod to go before they can be released.
        for (const v of p.spec?.volumes ?? []) {
          const pvc =
            v.persistentVolumeClaim && this.pvcs.get(p.metadata!.namespace!, v.persistentVolumeClaim.claimName);
          if (pvc) this.detached(this.releaseVolume(pvc));
        }
      });
      this.pvcs.on("delete", (pvc) => void rm(this.volumeDir(pvc), { recursive: true, force: true }));
      this.pvcs.on("update", (pvc) => this.detached(this.releaseVolume(pvc)));
      this.pvcs.on("add", (pvc) => this.launchWaiting(pvc));
    }
  }

  /** True when the runtime is the kubelet of Node objects (the `nodes` option). */
  get withNodes(): boolean {
    return this.agents.size > 0;
  }

  async start(): Promise<void> {
    // The Nodes exist and are Ready before any Pod is looked at, as kubelets register first.
    await Promise.all([...this.agents.values()].map((a) => a.start()));
    const informers = [this.pods, this.pvcs, ...(this.pvs ? [this.pvs] : [])];
    // Volumes first, so a Pod found at the first list finds its claim.
    for (const i of informers.slice(1)) i.start();
    await Promise.all(informers.slice(1).map((i) => i.waitForSync()));
    this.pods.start();
    await this.pods.waitForSync();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.pods.stop(), this.pvcs.stop(), this.pvs?.stop()]);
    for (const node of this.runs.values()) {
      node.stopping = true;
      clearInterval(node.probe);
      if (node.frozen) node.proc?.child.kill("SIGKILL");
    }
    await this.procs.stopAll();
    await Promise.all([...this.agents.values()].map((a) => a.shutdown()));
  }

  /** The names of the runtime's nodes (none without the `nodes` option). */
  nodeNames(): string[] {
    return [...this.agents.keys()];
  }

  /** The node a Pod runs on here, or undefined when the runtime does not run it. */
  nodeOf(namespace: string, pod: string): string | undefined {
    return this.runs.get(`${namespace}/${pod}`)?.nodeName;
  }

  nodeState(name: string): NodeState {
    return this.agent(name).state;
  }

  /**
   * The machine goes down: its heartbeats stop and its rqlited processes are frozen (SIGSTOP,
   * neither serving nor exiting) or killed; nothing is restarted or reported for its Pods until
   * restoreNode(). The node lifecycle controller then marks it unreachable.
   */
  async stopNode(name: string, opts: StopNodeOptions = {}): Promise<void> {
    const agent = this.agent(name);
    if (agent.state !== "running") throw new Error(`node ${name} is already ${agent.state}; restore it first`);
    agent.halt("stopped");
    for (const run of this.runsOn(name)) {
      if (!run.proc || run.proc.child.exitCode !== null || run.proc.child.signalCode !== null) continue;
      if ((opts.processes ?? "freeze") === "freeze") {
        await freezeProcess(run.proc.child);
        run.frozen = true;
      } else {
        run.downWithNode = true;
        run.proc.child.kill("SIGKILL");
        await run.proc.exited;
      }
    }
    this.log(`node ${name} stopped (${opts.processes ?? "freeze"})`);
  }

  /**
   * The node is cut off from the API server: its heartbeats and every write about its Pods stop,
   * but its rqlited processes keep running and serving each other.
   */
  partitionNode(name: string): Promise<void> {
    const agent = this.agent(name);
    if (agent.state !== "running") throw new Error(`node ${name} is already ${agent.state}; restore it first`);
    agent.halt("partitioned");
    this.log(`node ${name} partitioned`);
    return Promise.resolve();
  }

  /**
   * Back to normal: frozen processes continue (SIGCONT), killed ones start again, heartbeats
   * resume, and the node catches up with what happened meanwhile, as a kubelet that reconnects:
   * it reports its Pods again, stops those deleted meanwhile and starts those bound to it.
   */
  async restoreNode(name: string): Promise<void> {
    const agent = this.agent(name);
    if (agent.state === "running") return;
    for (const run of this.runsOn(name)) {
      if (run.frozen) {
        run.proc?.child.kill("SIGCONT");
        run.frozen = false;
      }
    }
    await agent.resume();
    for (const run of this.runsOn(name)) {
      const pod = this.pods.get(run.pod.metadata!.namespace!, run.pod.metadata!.name!);
      if (!pod || pod.metadata?.uid !== run.pod.metadata?.uid) {
        await this.stopPod(run.key);
      } else if (pod.metadata?.deletionTimestamp) {
        run.downWithNode = false;
        await this.finishDeletion(pod);
      } else if (run.downWithNode) {
        run.downWithNode = false;
        run.pod = pod;
        this.detached(this.launch(run));
      } else {
        await this.sync(pod);
        const container = pod.spec!.containers.find((c) => c.name === RQLITE_CONTAINER);
        if (container && this.runs.get(run.key) === run)
          await this.patchStatus(run, container).catch((err: Error) =>
            this.log(`status of ${run.key}: ${err.message}`),
          );
      }
    }
    for (const pod of this.pods.list())
      if (pod.spec?.nodeName === name && !this.runs.has(podKey(pod))) this.detached(this.sync(pod));
    this.log(`node ${name} restored`);
  }

  private agent(name: string): NodeAgent {
    const agent = this.agents.get(name);
    if (!agent)
      throw new Error(
        `the local runtime has no node "${name}" (${this.withNodes ? this.nodeNames().join(", ") : "it runs without nodes; start it with the nodes option"})`,
      );
    return agent;
  }

  private runsOn(name: string): PodRun[] {
    return [...this.runs.values()].filter((r) => r.nodeName === name);
  }

  /** Whether the runtime acts for a node now: always without nodes; with nodes, while it runs. */
  private nodeUp(nodeName: string | undefined): boolean {
    return nodeName === undefined || this.agents.get(nodeName)?.state === "running";
  }

  /** Plays the external resizer (and the kubelet's filesystem step) for a host-path claim. */
  private async resize(pvc: V1PersistentVolumeClaim): Promise<void> {
    const pv = pvc.spec?.volumeName ? this.pvs?.get("", pvc.spec.volumeName) : undefined;
    const step = resizeStep(pvc, pv);
    if (!step) return;
    const name = `${pvc.metadata!.namespace}/${pvc.metadata!.name}`;
    const patch = (path: string, body: object) =>
      this.opts.client.request({
        method: "PATCH",
        path,
        body,
        contentType: "application/merge-patch+json",
        timeoutMs: 10_000,
      });
    try {
      if ("pvCapacity" in step) {
        await patch(objectPath({ apiVersion: "v1", resource: "persistentvolumes", name: pv!.metadata!.name! }), {
          spec: { capacity: { storage: step.pvCapacity } },
        });
        this.log(`resized PV ${pv!.metadata!.name} of PVC ${name} to ${step.pvCapacity}`);
      } else {
        await patch(
          objectPath({
            apiVersion: "v1",
            resource: "persistentvolumeclaims",
            namespace: pvc.metadata!.namespace!,
            name: pvc.metadata!.name!,
            subresource: "status",
          }),
          {
            status: { capacity: { storage: step.pvcCapacity }, allocatedResources: { storage: step.pvcCapacity } },
          },
        );
        this.log(`PVC ${name} now has ${step.pvcCapacity}`);
      }
    } catch (err) {
      this.log(`resizing PVC ${name}: ${(err as Error).message}`);
    }
  }

  /** The loopback address of a running Pod's rqlited, e.g. for a test's client. */
  address(namespace: string, pod: string): string {
    return loopbackAddress(namespace, pod);
  }

  /** Kills a Pod's process as a crash would; the runtime restarts it as the kubelet does. */
  kill(namespace: string, pod: string, signal: NodeJS.Signals = "SIGKILL"): void {
    const node = this.runs.get(`${namespace}/${pod}`);
    if (!node?.proc) throw new Error(`no rqlited runs for Pod ${namespace}/${pod}`);
    node.proc.child.kill(signal);
  }

  /**
   * Freezes a Pod's process (SIGSTOP), as a hung machine would: it neither serves nor exits, so
   * its probe fails and nothing restarts it. It stays frozen until its Pod goes.
   */
  async freeze(namespace: string, pod: string): Promise<void> {
    const node = this.runs.get(`${namespace}/${pod}`);
    if (!node?.proc) throw new Error(`no rqlited runs for Pod ${namespace}/${pod}`);
    node.frozen = true;
    await freezeProcess(node.proc.child);
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
        path: objectPath({
          apiVersion: "v1",
          resource: "persistentvolumeclaims",
          namespace: pvc.metadata.namespace!,
          name: pvc.metadata.name!,
        }),
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
        this.detached(this.sync(pod));
    }
  }

  private async sync(pod: V1Pod): Promise<void> {
    const key = podKey(pod);
    const nodeName = this.withNodes ? pod.spec?.nodeName : undefined;
    if (this.withNodes) {
      // Not ours (unscheduled: the scheduler says why in PodScheduled), or a node that is down or
      // cut off, which acts on nothing until it is restored.
      if (!nodeName || !this.agents.has(nodeName) || !this.nodeUp(nodeName)) return;
      if (pod.metadata?.deletionTimestamp) return this.finishDeletion(pod);
    }
    if (pod.metadata?.deletionTimestamp) return this.stopPod(key);
    let known = this.runs.get(key);
    if (known && known.pod.metadata?.uid !== pod.metadata?.uid && !this.nodeUp(known.nodeName)) {
      // A Pod of the same name replaces one on a node that is down (force-deleted there). Both
      // would bind the same loopback address, derived from the name: the old process, which its
      // dead node can no longer stop, is ended so the replacement can serve, as its IP would
      // differ in a cluster.
      this.log(`Pod ${key} replaces its namesake on node ${known.nodeName}, which is down: ending the old rqlited`);
      await this.stopPod(key);
      // Another event for the new Pod may have started it meanwhile.
      known = this.runs.get(key);
    }
    if (known) {
      known.pod = pod;
      return;
    }
    const node: PodRun = {
      key,
      pod,
      address: loopbackAddress(pod.metadata!.namespace!, pod.metadata!.name!),
      restarts: 0,
      ready: false,
      started: false,
      stopping: false,
      frozen: false,
      nodeName,
      downWithNode: false,
    };
    this.runs.set(key, node);
    await this.launch(node);
  }

  private async launch(node: PodRun): Promise<void> {
    const { pod } = node;
    const ns = pod.metadata!.namespace!;
    if (this.withNodes && pod.metadata?.labels?.[LABEL_BACKUP_JOB]) return this.launchOneShot(node, "backup Job");
    if (this.withNodes && pod.metadata?.labels?.[LABEL_RESTORE_OF]) return this.launchOneShot(node, "restore loader");
    if (this.withNodes && pod.metadata?.labels?.[LABEL_RECOVERY_OF]) return this.launchOneShot(node, "recovery");
    const container = pod.spec!.containers.find((c) => c.name === RQLITE_CONTAINER);
    const claim = pod.spec!.volumes?.find((v) => v.name === DATA_VOLUME)?.persistentVolumeClaim?.claimName;
    const version = container?.image?.split(":").pop();
    const problem = !container
      ? `no ${RQLITE_CONTAINER} container`
      : !claim
        ? `no ${DATA_VOLUME} volume with a PVC`
        : undefined;
    if (problem) return this.reportWaiting(node, "CreateContainerConfigError", problem);
    const standIn = this.opts.standIns?.[container!.image ?? ""];
    const binary = standIn?.[0] ?? join(this.opts.binDir, `rqlited-${version}`);
    const pvc = this.pvcs.get(ns, claim!);
    if (!pvc || pvc.metadata?.deletionTimestamp) {
      // As a kubelet would, wait for the claim; a PVC event or the next Pod update retries.
      this.runs.delete(node.key);
      return this.reportWaiting(node, "ContainerCreating", `waiting for PVC ${claim}`);
    }
    let volume: string;
    if (this.withNodes) {
      const bound = boundFolder(pvc, pvc.spec?.volumeName ? this.pvs!.get("", pvc.spec.volumeName) : undefined);
      if ("waiting" in bound) {
        // A PVC or PV event retries.
        this.runs.delete(node.key);
        return this.reportWaiting(node, "ContainerCreating", bound.waiting);
      }
      volume = bound.folder;
    } else {
      volume = this.volumeDir(pvc);
      await mkdir(volume, { recursive: true });
    }
    let mounts: Array<[string, string]>;
    let env: NodeJS.ProcessEnv;
    try {
      mounts = [[DATA_MOUNT, volume], ...(await this.secretMounts(node, container!))];
      env = await this.containerEnv(node, container!);
    } catch (err) {
      this.runs.delete(node.key);
      // A Secret that appears later brings no Pod event: the kubelet tries again on its own.
      this.retryLater(node.key, pod.metadata?.uid);
      return this.reportWaiting(node, "CreateContainerConfigError", (err as Error).message);
    }
    const args = (container!.args ?? []).map((a) => mounts.reduce((arg, [from, to]) => arg.replaceAll(from, to), a));
    await mkdir(join(this.opts.stateDir, "logs"), { recursive: true });
    const proc = this.procs.start(
      node.key,
      binary,
      [...(standIn?.slice(1) ?? []), ...args],
      join(this.opts.stateDir, "logs", `${ns}_${pod.metadata!.name}.log`),
      env,
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
    this.log(
      `started ${standIn ? `the stand-in ${standIn.join(" ")}` : "rqlited"} for Pod ${node.key} on ${node.address} (${container!.image})`,
    );
    node.ready = false;
    node.started = !container!.startupProbe;
    await this.patchStatus(node, container!);
    clearInterval(node.probe);
    node.probe = setInterval(() => this.detached(this.probe(node, container!)), PROBE_PERIOD_MS);
    void proc.exited.then((how) => this.onExit(node, proc, how));
    this.detached(this.lifeProbes(node, container!, proc));
  }

  /**
   * A one-shot Pod (restartPolicy Never) with a claim: a `pvc` RqBackup's Job Pod or a restore's
   * loader Pod, whose one container `node dist/<entry>.js` runs once as
   * `node --import tsx <entry>.ts <its args>`, or a recovery's Pod (controller/rqcluster/render/recovery.ts), whose command runs as it is on this
   * host. The claim's PV folder stands in place of the mount path and a file in place of its
   * terminationMessagePath; when it exits the Pod is Succeeded or Failed with the exit code and
   * that file's content (else its output's tail) as the message.
   */
  private async launchOneShot(node: PodRun, what: "backup Job" | "restore loader" | "recovery"): Promise<void> {
    const { pod } = node;
    const ns = pod.metadata!.namespace!;
    const container = pod.spec!.containers[0]!;
    const claimVolume = pod.spec!.volumes?.find((v) => v.persistentVolumeClaim);
    const claim = claimVolume?.persistentVolumeClaim?.claimName;
    const pvc = claim ? this.pvcs.get(ns, claim) : undefined;
    if (!claim || !pvc || pvc.metadata?.deletionTimestamp) {
      this.runs.delete(node.key);
      return this.reportWaiting(node, "ContainerCreating", `waiting for PVC ${claim ?? "(none named)"}`);
    }
    const bound = boundFolder(pvc, pvc.spec?.volumeName ? this.pvs!.get("", pvc.spec.volumeName) : undefined);
    if ("waiting" in bound) {
      this.runs.delete(node.key);
      return this.reportWaiting(node, "ContainerCreating", bound.waiting);
    }
    let env: NodeJS.ProcessEnv;
    try {
      env = await this.containerEnv(node, container);
    } catch (err) {
      this.runs.delete(node.key);
      return this.reportWaiting(node, "CreateContainerConfigError", (err as Error).message);
    }
    const logs = join(this.opts.stateDir, "logs");
    await mkdir(logs, { recursive: true });
    const messageFile = join(logs, `${ns}_${pod.metadata!.name}.termination-log`);
    await rm(messageFile, { force: true });
    // An emptyDir (a verification's scratch folder) is a fresh folder of the Pod's own, as a kubelet's.
    const emptyDirs = new Set((pod.spec!.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name));
    const scratch = (container.volumeMounts ?? [])
      .filter((m) => emptyDirs.has(m.name))
      .map((m): [string, string] => [m.mountPath, join(logs, `${ns}_${pod.metadata!.name}_${m.name}`)]);
    for (const [, folder] of scratch) await mkdir(folder, { recursive: true });
    const mounts: Array<[string, string]> = [
      ...(container.volumeMounts ?? [])
        .filter((m) => m.name === claimVolume.name)
        .map((m): [string, string] => [m.mountPath, bound.folder]),
      ...scratch,
      [container.terminationMessagePath ?? "/dev/termination-log", messageFile],
    ];
    const args = (container.args ?? []).map((a) => mounts.reduce((arg, [from, to]) => arg.replaceAll(from, to), a));
    const startedAt = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    // The operator's own entry points (`node dist/<path>.js`) run from source; a recovery's shell as it is.
    const entry = container.command?.[0] === "node" ? /^dist\/(.+)\.js$/.exec(container.command[1] ?? "") : null;
    const [file, ...argv] = entry
      ? [process.execPath, "--import", "tsx", join(REPO_ROOT, `${entry[1]}.ts`), ...args]
      : [...(container.command ?? []), ...args];
    const proc = this.procs.start(node.key, file!, argv, join(logs, `${ns}_${pod.metadata!.name}.log`), env);
    node.proc = proc;
    this.log(`started ${what} Pod ${node.key} writing into ${bound.folder}`);
    const base = {
      hostIP: "127.0.0.1",
      hostIPs: [{ ip: "127.0.0.1" }],
      startTime: pod.status?.startTime ?? startedAt,
    };
    const containerStatus = (state: object) => ({
      name: container.name,
      image: container.image,
      imageID: "",
      ready: false,
      restartCount: 0,
      started: "running" in state,
      state,
    });
    await this.writeStatus(node, {
      ...base,
      phase: "Running",
      containerStatuses: [containerStatus({ running: { startedAt } })],
    }).catch((err: Error) => this.log(`status of ${node.key}: ${err.message}`));
    const how = await proc.exited;
    if (node.stopping) return;
    const exitCode = proc.child.exitCode ?? 137;
    const message = await readFile(messageFile, "utf8").catch(() => proc.tail(20));
    const finishedAt = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    this.log(`${what} Pod ${node.key} ended (${how})`);
    await this.writeStatus(node, {
      ...base,
      phase: exitCode === 0 ? "Succeeded" : "Failed",
      conditions: [{ type: "Ready", status: "False", reason: "PodCompleted", lastTransitionTime: finishedAt }],
      containerStatuses: [
        containerStatus({
          terminated: {
            exitCode,
            reason: exitCode === 0 ? "Completed" : "Error",
            message: message.slice(0, 4096),
            startedAt,
            finishedAt,
          },
        }),
      ],
    }).catch((err: Error) => this.log(`status of ${node.key}: ${err.message}`));
  }

  /** Writes each Secret volume of the container to files, as the kubelet does; returns mountPath → folder. */
  private async secretMounts(node: PodRun, container: V1Container): Promise<Array<[string, string]>> {
    const ns = node.pod.metadata!.namespace!;
    const out: Array<[string, string]> = [];
    for (const mount of container.volumeMounts ?? []) {
      const secretName = node.pod.spec!.volumes?.find((v) => v.name === mount.name)?.secret?.secretName;
      if (!secretName) continue;
      const secret = await this.opts.client
        .request<{ data?: Record<string, string> }>({
          method: "GET",
          path: objectPath({ apiVersion: "v1", resource: "secrets", namespace: ns, name: secretName }),
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

  /**
   * The container's environment as the kubelet builds it from `value` and `secretKeyRef` (the
   * sources the operator renders; rqlited expands its backup config's $NAMEs from them), on top
   * of this process's environment without its AWS_* variables, so only the Pod's credentials count.
   */
  private async containerEnv(node: PodRun, container: V1Container): Promise<NodeJS.ProcessEnv> {
    const ns = node.pod.metadata!.namespace!;
    const env: NodeJS.ProcessEnv = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_")),
    );
    for (const e of container.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      const ref = e.valueFrom?.secretKeyRef;
      if (!ref) continue;
      const secret = await this.opts.client
        .request<{ data?: Record<string, string> }>({
          method: "GET",
          path: objectPath({ apiVersion: "v1", resource: "secrets", namespace: ns, name: ref.name }),
          timeoutMs: 10_000,
        })
        .catch((err: Error): { data?: Record<string, string> } => {
          if (ref.optional && /404|not ?found/i.test(err.message)) return { data: {} };
          throw new Error(`Secret ${ns}/${ref.name} for env ${e.name}: ${err.message}`);
        });
      const value = secret.data?.[ref.key];
      if (value !== undefined) env[e.name] = Buffer.from(value, "base64").toString("utf8");
      else if (!ref.optional) throw new Error(`Secret ${ns}/${ref.name} has no key ${ref.key} (env ${e.name})`);
    }
    return env;
  }

  /** Syncs the Pod again after a while, as the kubelet's periodic sync would, unless it runs or went. */
  private retryLater(key: string, uid: string | undefined): void {
    setTimeout(() => {
      const [ns, name] = key.split("/") as [string, string];
      const pod = this.pods.get(ns, name);
      if (!this.stopped && pod && pod.metadata?.uid === uid && !this.runs.has(key)) this.detached(this.sync(pod));
    }, CONFIG_RETRY_MS).unref();
  }

  /** As the kubelet with restartPolicy Always: a crashed process comes back, with backoff. */
  private async onExit(node: PodRun, proc: Managed, how: string): Promise<void> {
    if (node.stopping || node.proc !== proc || node.downWithNode) return;
    node.restarts++;
    node.ready = false;
    const delay = Math.min(1000 * 2 ** (node.restarts - 1), 10_000);
    this.log(`rqlited of Pod ${node.key} exited (${how}); restarting in ${delay} ms`);
    await this.patchStatus(
      node,
      node.pod.spec!.containers.find((c) => c.name === RQLITE_CONTAINER)!,
    ).catch(() => {});
    setTimeout(() => {
      if (!node.stopping && !node.downWithNode && this.runs.get(node.key) === node) this.detached(this.launch(node));
    }, delay);
  }

  /**
   * The startup probe, then the liveness probe, on their own periods as the kubelet runs them.
   * failureThreshold failures in a row kill the process (SIGTERM, then SIGKILL after 5 s);
   * onExit() restarts it and counts the restart.
   */
  private async lifeProbes(node: PodRun, container: V1Container, proc: Managed): Promise<void> {
    const current = () => node.proc === proc && !node.stopping && !node.downWithNode && proc.child.exitCode === null;
    for (const [kind, probe] of [
      ["startup", container.startupProbe],
      ["liveness", container.livenessProbe],
    ] as const) {
      if (!probe) continue;
      const verdict = await this.runProbe(node, probe, kind === "startup", current);
      if (verdict === "gone") return;
      if (verdict === "failed") {
        const threshold = probe.failureThreshold ?? 3;
        this.log(`Pod ${node.key}: ${kind} probe failed ${threshold} times in a row; killing rqlited`);
        proc.child.kill("SIGTERM");
        const killed = setTimeout(() => proc.child.kill("SIGKILL"), 5000);
        void proc.exited.then(() => clearTimeout(killed));
        return;
      }
      node.started = true;
    }
  }

  /** "passed" (startup only: once it succeeds it is done), "failed", or "gone" when the process went. */
  private async runProbe(
    node: PodRun,
    probe: V1Probe,
    untilSuccess: boolean,
    current: () => boolean,
  ): Promise<"passed" | "failed" | "gone"> {
    const sleep = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000));
    await sleep(probe.initialDelaySeconds ?? 0);
    let failures = 0;
    for (;;) {
      if (!current()) return "gone";
      // A node that is down or cut off acts on nothing; a frozen process is judged once it thaws.
      if (this.nodeUp(node.nodeName) && !node.frozen) {
        const get = probe.httpGet;
        const ok = await probeOk(
          get?.scheme === "HTTPS",
          node.address,
          get?.path ?? "/",
          (probe.timeoutSeconds ?? 1) * 1000,
        );
        if (!current()) return "gone";
        if (ok && untilSuccess) return "passed";
        failures = ok ? 0 : failures + 1;
        if (failures >= (probe.failureThreshold ?? 3)) return "failed";
      }
      await sleep(probe.periodSeconds ?? 10);
    }
  }

  private async probe(node: PodRun, container: V1Container): Promise<void> {
    // As the kubelet: no readiness before the startup probe passed.
    if (!node.started) return;
    const probe = container.readinessProbe?.httpGet;
    const ready = await probeOk(probe?.scheme === "HTTPS", node.address, probe?.path ?? "/readyz");
    // A node cut off from the API server reports nothing; restoreNode() reports again.
    if (node.stopping || !this.nodeUp(node.nodeName)) return;
    // As a kubelet's status manager, also when the API server's copy differs from what was last
    // written: the node lifecycle controller marks every Pod of a node whose heartbeats lagged
    // (a busy machine) NotReady, and nothing else would ever mark them Ready again.
    const shown = node.pod.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
    if (ready === node.ready && (node.pod.status?.conditions === undefined || ready === shown)) return;
    node.ready = ready;
    await this.patchStatus(node, container).catch((err: Error) => this.log(`status of ${node.key}: ${err.message}`));
  }

  private async patchStatus(node: PodRun, container: V1Container): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const running = node.proc?.child.exitCode === null && node.proc.child.signalCode === null;
    const podIP = this.opts.podNetwork ? podNetworkIP(node.address) : node.address;
    const cond = (type: string, ok: boolean) => ({ type, status: ok ? "True" : "False", lastTransitionTime: now });
    await this.writeStatus(node, {
      phase: "Running",
      hostIP: "127.0.0.1",
      hostIPs: [{ ip: "127.0.0.1" }],
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
          started: running && node.started,
          restartCount: node.restarts,
          state: running ? { running: { startedAt: now } } : { waiting: { reason: "CrashLoopBackOff" } },
        },
      ],
    });
  }

  private async reportWaiting(node: PodRun, reason: string, message: string): Promise<void> {
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

  private async writeStatus(node: PodRun, status: object): Promise<void> {
    if (!this.nodeUp(node.nodeName)) return;
    const [ns, name] = node.key.split("/") as [string, string];
    await this.opts.client
      .request({
        method: "PATCH",
        path: objectPath({ apiVersion: "v1", resource: "pods", namespace: ns, name, subresource: "status" }),
        body: { status },
        contentType: "application/merge-patch+json",
        timeoutMs: 10_000,
      })
      .catch((err: Error) => {
        // Deleted while it started (a force delete, a recovery replacing it): as a kubelet's
        // status manager, there is nothing left to report on; the delete event stops the process.
        if (!/HTTP 404/.test(err.message)) throw err;
      });
  }

  /**
   * Runs work that no caller waits for, from an informer event or a timer: as a kubelet logs a
   * failed sync, a failure is logged and never ends the process that hosts the runtime.
   */
  private detached(work: Promise<unknown>): void {
    work.catch((err: Error) => this.log(`local runtime: ${err.stack ?? err.message}`));
  }

  /**
   * A graceful deletion on a node: the kubelet stops the containers, then deletes the Pod for
   * good (grace 0, for this uid only), which is what lets the API server remove it.
   */
  private async finishDeletion(pod: V1Pod): Promise<void> {
    const key = podKey(pod);
    await this.stopPod(key);
    await this.opts.client
      .request({
        method: "DELETE",
        path: objectPath({
          apiVersion: "v1",
          resource: "pods",
          namespace: pod.metadata!.namespace!,
          name: pod.metadata!.name!,
        }),
        body: {
          apiVersion: "v1",
          kind: "DeleteOptions",
          gracePeriodSeconds: 0,
          preconditions: { uid: pod.metadata!.uid },
        },
        timeoutMs: 10_000,
      })
      .catch((err: Error) => {
        // 404: gone already; 409: a new Pod of that name, not ours to delete.
        if (!/HTTP (404|409)/.test(err.message)) this.log(`deleting Pod ${key} after stopping it: ${err.message}`);
      });
  }

  private async stopPod(key: string): Promise<void> {
    const node = this.runs.get(key);
    if (!node) return;
    this.runs.delete(key);
    node.stopping = true;
    clearInterval(node.probe);
    // A hung machine does not shut down cleanly, and a stopped process would sit out the grace period.
    if (node.frozen) node.proc?.child.kill("SIGKILL");
    if (node.proc) await this.procs.stopOne(node.proc);
    this.log(`stopped rqlited of Pod ${key}`);
  }
}

/**
 * One HTTP probe as the kubelet sends it: the probe's scheme (rqlited serves only HTTPS once
 * it has -http-cert), and for HTTPS no certificate check, as the kubelet does not verify either.
 * Success is a status from 200 to 399.
 */
function probeOk(https: boolean, address: string, path: string, timeoutMs = 2000): Promise<boolean> {
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
      ? httpsGet(url, { agent: false, rejectUnauthorized: false, timeout: timeoutMs }, onResponse)
      : httpGet(url, { agent: false, timeout: timeoutMs }, onResponse);
    req.on("timeout", () => done(false));
    req.on("error", () => resolve(false));
  });
}
