// What every suite of test/real/ starts from: a real cluster (testenv/realCluster.ts) with the
// operator installed from its image by `helm install`, a namespace the harness may reach from the
// hub, tunnels to its Pods' rqlite API, and a connection probe that runs in a Pod.
import { randomBytes } from "node:crypto";
import type { V1Pod, V1PodList } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { KubeClient, loadKubeConfig } from "../../controller/runtime/kubeClient.js";
import { startPodTunnels, type PodTunnels } from "../../testenv/podTunnels.js";
import { installOperatorWithHelm, type HelmOperator } from "../../testenv/helmOperator.js";
import {
  BUSYBOX_IMAGE,
  CLUSTER_DNS_IP,
  HUB_CIDR,
  startRealCluster,
  type RealCluster,
  type RealClusterOptions,
} from "../../testenv/realCluster.js";

export const OPERATOR_NS = "rqlite-operator-system";

export interface OperatorCluster {
  rc: RealCluster;
  /** The chart's first release, in OPERATOR_NS, and a way to install more beside it. */
  operator: HelmOperator;
  client: KubeClient;
  kubectl(args: string[], timeoutMs?: number): Promise<string>;
  /** The Pods of a namespace with this label selector, terminating ones included. */
  pods(ns: string, selector: string): Promise<V1Pod[]>;
  stop(): Promise<void>;
}

/** A namespace name of its own per run, so two runs on one machine never share a Pod's loopback address. */
export const runNamespace = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;

/**
 * The cluster and the operator as `npm run local -- --real` installs it (testenv/helmOperator.ts:
 * cert-manager on the host, the chart with --wait), with the release's values in `helmValues`.
 */
export async function startOperatorCluster(
  figures: Record<string, string>,
  opts: RealClusterOptions & {
    /** helm's arguments for the release's values (`--set k=v`), as an administrator gives them. */
    helmValues?: string[];
  } = {},
): Promise<OperatorCluster> {
  const rc = await startRealCluster(opts);
  figures["cluster Ready"] = `${(rc.readyMs / 1000).toFixed(1)} s`;
  let operator: HelmOperator | undefined;
  const stop = async () => {
    await operator?.stop();
    await rc.stop();
  };
  try {
    const kubectl = (args: string[], timeoutMs?: number) => rc.cp.kubectlOk(args, { timeoutMs });
    operator = await installOperatorWithHelm(rc.cp, {
      namespace: OPERATOR_NS,
      logDir: rc.dir,
      values: opts.helmValues,
    });
    figures["helm install --wait"] = `${(operator.installMs / 1000).toFixed(1)} s`;
    const client = new KubeClient(loadKubeConfig(rc.cp.kubeconfigPath), new Registry());
    const pods = async (ns: string, selector: string) =>
      (
        await client.request<V1PodList>({
          method: "GET",
          path: `/api/v1/namespaces/${ns}/pods`,
          query: { labelSelector: selector },
          timeoutMs: 10_000,
        })
      ).items;
    return { rc, operator, client, kubectl, pods, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Creates `ns` and lets the harness reach 4001 of its Pods from the hub, outside every Pod, which
 * the clusters' own policies refuse; policies add up, so this one changes nothing else. Returns
 * the tunnels to those Pods (podTunnels.ts), which the monitor and the writer use.
 */
export async function harnessNamespace(oc: OperatorCluster, ns: string): Promise<PodTunnels> {
  await oc.kubectl(["create", "namespace", ns]);
  await oc.rc.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
    input: JSON.stringify({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "test-harness" },
      spec: {
        podSelector: {},
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ ipBlock: { cidr: HUB_CIDR } }], ports: [{ port: 4001, protocol: "TCP" }] }],
      },
    }),
  });
  return startPodTunnels({ client: oc.client, namespace: ns, egressSocket: oc.rc.egressSocket, ports: [4001] });
}

/**
 * Tries a TCP connection from a new Pod in `ns` to ip:port: "open" or "refused".
 *
 * The Pod first waits until it reaches the cluster's DNS Service (which no policy guards), so a
 * refusal is the policy's and not a network that is not up yet. Where "open" is expected it tries
 * for up to a minute: the enforcer admits a new Pod's address only once it has seen the Pod. The
 * answer is read from the Pod's log once it has ended; `kubectl run -i` attaches after the
 * container started, and a connection that opens at once printed before that (the '' once seen).
 */
export async function probeConnection(
  oc: OperatorCluster,
  ns: string,
  target: { ip: string; port: number },
  expect: "open" | "refused",
): Promise<string> {
  const name = `probe-${target.port}-${randomBytes(3).toString("hex")}`;
  const tries = expect === "open" ? 30 : 3;
  const script = [
    `i=0; until nc -w 2 ${CLUSTER_DNS_IP} 53 </dev/null; do i=$((i+1)); [ $i -lt 60 ] || { echo no-network; exit 0; }; sleep 1; done`,
    `n=0; while [ $n -lt ${tries} ]; do nc -w 3 ${target.ip} ${target.port} </dev/null && { echo open; exit 0; }; n=$((n+1)); sleep 1; done`,
    "echo refused",
  ].join("\n");
  await oc.rc.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
    input: JSON.stringify({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, labels: { "rqlite-operator.test/probe": "true" } },
      spec: {
        restartPolicy: "Never",
        terminationGracePeriodSeconds: 0,
        containers: [{ name: "probe", image: BUSYBOX_IMAGE, imagePullPolicy: "Never", command: ["sh", "-c", script] }],
      },
    }),
  });
  try {
    await oc.kubectl(
      ["wait", "-n", ns, `pod/${name}`, "--for=jsonpath={.status.phase}=Succeeded", "--timeout=300s"],
      310_000,
    );
    return (await oc.kubectl(["logs", "-n", ns, name])).trim().split("\n").pop() ?? "";
  } finally {
    await oc.kubectl(["delete", "pod", "-n", ns, name, "--wait=false"]).catch(() => "");
  }
}

/**
 * The chart's `controller.extraEgress` (as helm arguments) for an S3 server at ip on these ports:
 * the controller's own policy opens 443, where a real S3 service listens, and the test's S3
 * server listens on the host at other ports (HUB_HOST_IP:PORT), as MinIO does on 9000.
 */
export function controllerEgressTo(ip: string, ports: number[]): string[] {
  const rule = { to: [{ ipBlock: { cidr: `${ip}/32` } }], ports: ports.map((port) => ({ port, protocol: "TCP" })) };
  return ["--set-json", `controller.extraEgress=${JSON.stringify([rule])}`];
}

/** The figures a suite gathered, one per line, for the closing report. */
export function printFigures(figures: Record<string, string>): void {
  console.log(
    `      figures:\n${Object.entries(figures)
      .map(([k, v]) => `        ${k}: ${v}`)
      .join("\n")}`,
  );
}
