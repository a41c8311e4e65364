// The plane a cluster has (kube-scheduler, kube-controller-manager, StorageClasses; shared by every
// suite of a run, testenv/shared.ts) with the local runtime as the kubelet of zoned Nodes, and the
// operator on top, in a namespace of the suite's own: what every end-to-end scenario runs on. One
// per test file, stopped by the file's `after`; stopping it leaves the plane to the next suite.
import type { V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { KubeClient, loadKubeConfig } from "../../controller/runtime/kubeClient.js";
import { startLocalStack, type LocalStack } from "../../local/stack.js";
import { LABEL_CLUSTER } from "../../shared/names.js";
import { FAST_LEASE_ARGS } from "../../testenv/controller.js";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { eventually as eventuallyWithin } from "../../testenv/eventually.js";
import { createTestNamespace, sharedSchedulingControlPlane } from "../../testenv/shared.js";
import { isConverged, readCluster, type ClusterState } from "./clusterStatus.js";

export const eventually = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000) =>
  eventuallyWithin(what, check, timeoutMs, { intervalMs: 250 });

export interface ScheduledEnv {
  cp: ControlPlane;
  stack: LocalStack;
  client: KubeClient;
  ns: string;
  /** kubectl in the test namespace; throws on a non-zero exit. */
  kubectl(args: string[], input?: string): Promise<string>;
  applyCluster(name: string, spec: object): Promise<void>;
  cluster(name: string): Promise<ClusterState>;
  /** Waits until the cluster runs exactly `voters` ready voters on its latest spec. */
  converged(name: string, voters: number, timeoutMs?: number): Promise<void>;
  /** Creates a 1Gi claim on the default StorageClass (the host-path provisioner binds it at once) and waits for it Bound. */
  boundClaim(name: string): Promise<void>;
  pods(cluster: string): Promise<V1Pod[]>;
  pvcs(cluster: string): Promise<V1PersistentVolumeClaim[]>;
  /** Pod name -> the Node the scheduler bound it to (unbound Pods are left out). */
  placement(cluster: string): Promise<Record<string, string>>;
  /** Node name -> its topology.kubernetes.io/zone label. */
  zones(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

export interface ScheduledEnvOptions {
  /** Namespace prefix, e.g. the file's subject. */
  prefix: string;
  /** Nodes the runtime is the kubelet of (node-a, node-b, ... in zones zone-a..c); 3 by default. */
  nodes?: number;
  /** Controller flags on top of fast Lease timings and a Lease of the test's own. */
  controllerArgs?: string[];
  /** Controller replicas; 2 by default, as deploy/ runs them. */
  replicas?: number;
  /** What --s3-endpoint-allow allows beyond public endpoints, e.g. the loopback S3 server's 127.0.0.1/32. */
  s3EndpointAllow?: string;
}

export async function startScheduledEnv(opts: ScheduledEnvOptions): Promise<ScheduledEnv> {
  const started = Date.now();
  const nodes = opts.nodes ?? 3;
  const cp = await sharedSchedulingControlPlane();
  const ns = await createTestNamespace(cp, opts.prefix);
  const stack = await startLocalStack({
    controlPlane: cp,
    nodes,
    namespaces: [ns],
    ...(opts.replicas === undefined ? {} : { replicas: opts.replicas }),
    ...(opts.s3EndpointAllow === undefined ? {} : { s3EndpointAllow: opts.s3EndpointAllow }),
    controllerArgs: [...FAST_LEASE_ARGS, `--leader-election-id=rqlite-operator-${ns}`, ...(opts.controllerArgs ?? [])],
  });
  console.log(
    `      ${nodes} nodes and the operator ready in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
      `(the plane with scheduler and controller-manager took ${(cp.startupMs / 1000).toFixed(1)} s, once per run)`,
  );
  const client = new KubeClient(loadKubeConfig(cp.kubeconfigPath), new Registry());
  const list = async <T>(resource: string, cluster: string) =>
    (
      await client.request<{ items: T[] }>({
        method: "GET",
        path: `/api/v1/namespaces/${ns}/${resource}`,
        query: { labelSelector: `${LABEL_CLUSTER}=${cluster}` },
        timeoutMs: 5000,
      })
    ).items;
  const kubectl = (args: string[], input?: string) =>
    cp.kubectlOk([...args, "-n", ns], input === undefined ? {} : { input });
  const env: ScheduledEnv = {
    cp,
    stack,
    client,
    ns,
    kubectl,
    async applyCluster(name, spec) {
      await kubectl(
        ["apply", "-f", "-"],
        JSON.stringify({ apiVersion: "rqlite.io/v1alpha1", kind: "RqCluster", metadata: { name }, spec }),
      );
    },
    cluster: (name) => readCluster(cp, ns, name),
    async converged(name, voters, timeoutMs = 120_000) {
      await eventually(
        `${name}: ${voters} ready voters on the latest spec`,
        async () => isConverged(await readCluster(cp, ns, name), voters),
        timeoutMs,
      ).catch(async (err: Error) => {
        // What a person would look at next, so that a failure explains itself.
        const look = async (args: string[]) => (await cp.kubectl([...args, "-n", ns])).stdout.trim();
        const [objects, status, events] = await Promise.all([
          look(["get", "pods,pvc", "-o", "wide", "-l", `${LABEL_CLUSTER}=${name}`]),
          look(["get", "rqc", name, "-o", "jsonpath={.status}"]),
          look(["get", "events", "--sort-by=.lastTimestamp"]),
        ]);
        const tail = events.split("\n").slice(-15).join("\n");
        throw new Error(`${err.message}\n${objects}\nstatus: ${status}\nlast events:\n${tail}`);
      });
    },
    async boundClaim(name) {
      await kubectl(
        ["apply", "-f", "-"],
        JSON.stringify({
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          metadata: { name },
          spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
        }),
      );
      await eventually(`the claim ${name} Bound`, async () => {
        const pvc = JSON.parse(await kubectl(["get", "pvc", name, "-o", "json"])) as V1PersistentVolumeClaim;
        return pvc.status?.phase === "Bound";
      });
    },
    pods: (cluster) => list<V1Pod>("pods", cluster),
    pvcs: (cluster) => list<V1PersistentVolumeClaim>("persistentvolumeclaims", cluster),
    async placement(cluster) {
      return Object.fromEntries(
        (await env.pods(cluster)).flatMap((p) => (p.spec?.nodeName ? [[p.metadata!.name!, p.spec.nodeName]] : [])),
      );
    },
    async zones() {
      const nodes = JSON.parse(await cp.kubectlOk(["get", "nodes", "-o", "json"])) as {
        items: Array<{ metadata: { name: string; labels?: Record<string, string> } }>;
      };
      return Object.fromEntries(
        nodes.items.map((n) => [n.metadata.name, n.metadata.labels?.["topology.kubernetes.io/zone"] ?? ""]),
      );
    },
    async stop() {
      await stack.stop();
      // With their kubelet gone these Pods would stay bound to the next suite's Nodes of the
      // same names, holding requests there: gone from the API server at once.
      await cp.kubectl(["delete", "pods", "--all", "-n", ns, "--force", "--grace-period=0", "--wait=false"]);
    },
  };
  return env;
}

/** "Type reason: message" of the Events about one object (e.g. a Pod the scheduler judged). */
export async function eventsAbout(cp: ControlPlane, namespace: string, kind: string, name: string): Promise<string[]> {
  const list = JSON.parse(
    await cp.kubectlOk([
      "get",
      "events",
      "-n",
      namespace,
      "--field-selector",
      `involvedObject.kind=${kind},involvedObject.name=${name}`,
      "-o",
      "json",
    ]),
  ) as { items: Array<{ type?: string; reason?: string; message?: string }> };
  return list.items.map((e) => `${e.type ?? ""} ${e.reason ?? ""}: ${e.message ?? ""}`);
}
