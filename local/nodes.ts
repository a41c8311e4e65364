// The local runtime's Kubernetes nodes: each NodeAgent plays the node-facing half of a kubelet
// for one Node object. It registers the Node (labels for hostname and zone, capacity), keeps its
// Lease in kube-node-lease renewed and its Ready condition fresh, as a kubelet does, so the real
// node lifecycle controller of kube-controller-manager judges its health. A test can halt the
// heartbeats (a stopped machine, or one cut off from the API server) and resume them.
import type { V1Node } from "@kubernetes/client-node";
import { KubeApiError, type KubeClient } from "../controller/runtime/kubeClient.js";
import { objectPath } from "../controller/runtime/paths.js";

export interface NodeSpec {
  name: string;
  /** Its topology.kubernetes.io/zone label. */
  zone: string;
}

/** running: heartbeats flow; stopped: the machine is down; partitioned: cut off from the API server. */
export type NodeState = "running" | "stopped" | "partitioned";

export const NODE_LEASE_NAMESPACE = "kube-node-lease";
const NODE_LEASES = { apiVersion: "coordination.k8s.io/v1", resource: "leases", namespace: NODE_LEASE_NAMESPACE };
export const ZONE_LABEL = "topology.kubernetes.io/zone";
export const HOSTNAME_LABEL = "kubernetes.io/hostname";

/** As a kubelet's Lease: renewed every quarter of its duration (kubelet: 40 s, every 10 s). */
export const LEASE_DURATION_SECONDS = 8;
const LEASE_RENEW_MS = (LEASE_DURATION_SECONDS * 1000) / 4;
/** Full status reports between changes (kubelet: nodeStatusReportFrequency, 5 min). */
const STATUS_REPORT_MS = 20_000;

const letter = (i: number) => String.fromCharCode("a".charCodeAt(0) + (i % 26)) + (i >= 26 ? String(i) : "");

/**
 * N nodes named node-a, node-b, ...; zones zone-a, zone-b, zone-c, ... cycling over `zones`, so
 * the default 3 nodes sit in 3 zones and a 4th shares zone-a.
 */
export function defaultNodeSpecs(count: number, zones = 3): NodeSpec[] {
  if (!Number.isInteger(count) || count < 0) throw new Error(`nodes must be a whole number >= 0, got ${count}`);
  return Array.from({ length: count }, (_, i) => ({ name: `node-${letter(i)}`, zone: `zone-${letter(i % zones)}` }));
}

/** The Node object as registered; its status comes from renderNodeStatus(). */
export function renderNode(spec: NodeSpec): V1Node {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: spec.name,
      labels: {
        [HOSTNAME_LABEL]: spec.name,
        [ZONE_LABEL]: spec.zone,
        "topology.kubernetes.io/region": "local",
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
      },
    },
  };
}

const RESOURCES = { cpu: "4", memory: "8Gi", pods: "110", "ephemeral-storage": "100Gi" };

/** What a healthy kubelet reports: Ready, no pressure, capacity, and its address. */
export function renderNodeStatus(spec: NodeSpec, now: string, readySince: string): object {
  const condition = (type: string, status: string, reason: string, message: string, since = readySince) => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: now,
    lastTransitionTime: since,
  });
  return {
    capacity: RESOURCES,
    allocatable: RESOURCES,
    conditions: [
      condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
      condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
      condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
      condition("Ready", "True", "KubeletReady", "the local runtime is posting ready status"),
    ],
    addresses: [
      { type: "InternalIP", address: "127.0.0.1" },
      { type: "Hostname", address: spec.name },
    ],
    nodeInfo: {
      machineID: spec.name,
      systemUUID: spec.name,
      bootID: readySince,
      kernelVersion: "",
      osImage: "rqlite-operator local runtime",
      containerRuntimeVersion: "local://rqlited",
      kubeletVersion: "v1.34.4",
      kubeProxyVersion: "",
      operatingSystem: "linux",
      architecture: "amd64",
    },
  };
}

/** Lease times need microseconds (V1MicroTime): a plain ISO date is refused. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/Z$/, "000Z");
}

const secondsTime = (d: Date) => d.toISOString().replace(/\.\d+Z$/, "Z");

export class NodeAgent {
  private stateNow: NodeState = "running";
  private readySince = secondsTime(new Date());
  private uid?: string;
  private leaseTimer?: NodeJS.Timeout;
  private statusTimer?: NodeJS.Timeout;

  constructor(
    private readonly client: KubeClient,
    readonly spec: NodeSpec,
    private readonly log: (msg: string) => void,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  get state(): NodeState {
    return this.stateNow;
  }

  /** Registers the Node (or takes over one of that name), reports Ready and starts heartbeats. */
  async start(): Promise<void> {
    const node = await this.client
      .request<V1Node>({
        method: "POST",
        path: objectPath({ apiVersion: "v1", resource: "nodes" }),
        body: renderNode(this.spec),
        timeoutMs: 10_000,
      })
      .catch(async (err: unknown) => {
        if (!(err instanceof KubeApiError && err.status === 409)) throw err;
        return this.client.request<V1Node>({
          method: "PATCH",
          path: objectPath({ apiVersion: "v1", resource: "nodes", name: this.name }),
          body: { metadata: { labels: renderNode(this.spec).metadata!.labels } },
          contentType: "application/merge-patch+json",
          timeoutMs: 10_000,
        });
      })
      .catch((err: Error) => {
        throw new Error(`registering Node ${this.name}: ${err.message}`, { cause: err });
      });
    this.uid = node.metadata!.uid;
    await this.beat();
  }

  /** Heartbeats stop; state says why (the runtime stops or leaves alone the node's processes). */
  halt(state: Exclude<NodeState, "running">): void {
    this.stateNow = state;
    this.clearTimers();
  }

  /** Heartbeats resume at once, and Ready is reported as a fresh transition, as after a reboot. */
  async resume(): Promise<void> {
    if (this.stateNow !== "stopped" && this.stateNow !== "partitioned") return;
    this.stateNow = "running";
    this.readySince = secondsTime(new Date());
    await this.beat();
  }

  /** Stops heartbeats and removes the Node (its Lease goes with it, by owner reference). */
  async shutdown(): Promise<void> {
    this.stateNow = "stopped";
    this.clearTimers();
    await this.client
      .request({
        method: "DELETE",
        path: objectPath({ apiVersion: "v1", resource: "nodes", name: this.name }),
        timeoutMs: 10_000,
      })
      .catch((err: Error) => this.log(`removing Node ${this.name}: ${err.message}`));
  }

  private clearTimers(): void {
    clearInterval(this.leaseTimer);
    clearInterval(this.statusTimer);
    this.leaseTimer = this.statusTimer = undefined;
  }

  private async beat(): Promise<void> {
    this.clearTimers();
    await Promise.all([this.postStatus(), this.renewLease()]);
    if (this.stateNow !== "running") return;
    this.leaseTimer = setInterval(() => void this.renewLease(), LEASE_RENEW_MS);
    this.statusTimer = setInterval(() => void this.postStatus(), STATUS_REPORT_MS);
  }

  private async postStatus(): Promise<void> {
    if (this.stateNow !== "running") return;
    await this.client
      .request({
        method: "PATCH",
        path: objectPath({ apiVersion: "v1", resource: "nodes", name: this.name, subresource: "status" }),
        body: { status: renderNodeStatus(this.spec, secondsTime(new Date()), this.readySince) },
        contentType: "application/merge-patch+json",
        timeoutMs: 10_000,
      })
      .catch((err: Error) => this.log(`status of Node ${this.name}: ${err.message}`));
  }

  private async renewLease(): Promise<void> {
    if (this.stateNow !== "running") return;
    const path = objectPath({ ...NODE_LEASES, name: this.name });
    const spec = {
      holderIdentity: this.name,
      leaseDurationSeconds: LEASE_DURATION_SECONDS,
      renewTime: microTime(new Date()),
    };
    try {
      await this.client.request({
        method: "PATCH",
        path,
        body: { spec },
        contentType: "application/merge-patch+json",
        timeoutMs: 5000,
      });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) {
        this.log(`renewing the Lease of Node ${this.name}: ${(err as Error).message}`);
        return;
      }
      // First beat: the kubelet creates its Lease owned by its Node, so it goes with the Node.
      await this.client
        .request({
          method: "POST",
          path: objectPath(NODE_LEASES),
          body: {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: {
              name: this.name,
              namespace: NODE_LEASE_NAMESPACE,
              ownerReferences: this.uid
                ? [{ apiVersion: "v1", kind: "Node", name: this.name, uid: this.uid }]
                : undefined,
            },
            spec: { ...spec, acquireTime: spec.renewTime },
          },
          timeoutMs: 5000,
        })
        .catch((e: Error) => this.log(`creating the Lease of Node ${this.name}: ${e.message}`));
    }
  }
}
