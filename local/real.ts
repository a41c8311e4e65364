// `npm run local -- --real`: the demo on a real Kubernetes (testenv/realCluster.ts: kubelets,
// containerd, kube-proxy, CoreDNS, enforced NetworkPolicies), with the operator installed the
// way users install it: its Helm chart, its own image, webhook TLS from cert-manager.
//
// Two things only this machine needs, each a NetworkPolicy that adds to the operator's own:
// - this machine is outside the cluster: the curl lines (through pod tunnels) and the API
//   server's pod proxy (which `kubectl rqlite` uses) reach the Pods from the hub 10.250.0.0/24,
//   which the cluster's policy does not admit;
// - the demo's S3 server listens on this machine, reached from Pods at HUB_HOST_IP:PORT, a port the
//   controller's egress policy does not open (it opens 443, where a real S3 service listens).
import { Registry } from "prom-client";
import { KubeClient, loadKubeConfig } from "../controller/runtime/kubeClient.js";
import type { ControlPlane } from "../testenv/controlplane.js";
import { installOperatorWithHelm, OPERATOR_CHART } from "../testenv/helmOperator.js";
import { startPodTunnels } from "../testenv/podTunnels.js";
import { HUB_CIDR, HUB_HOST_IP, startRealCluster } from "../testenv/realCluster.js";
import { startS3Server, type S3Credentials } from "../testenv/s3.js";

export interface RealDemo {
  cp: ControlPlane;
  nodeNames: string[];
  /** The S3 server as Pods (and so the operator) reach it. */
  s3: { endpoint: string; credentials: S3Credentials; root: string };
  stop(): Promise<void>;
}

export async function startRealDemo(opts: {
  /** Where the operator is installed (the Helm release's namespace). */
  operatorNamespace: string;
  /** The demo's namespace: its Pods get loopback tunnels and the policy that admits this machine. */
  namespace: string;
  buckets: string[];
  log: (msg: string) => void;
}): Promise<RealDemo> {
  const cleanups: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    const s3 = await startS3Server({ buckets: opts.buckets });
    cleanups.push(() => s3.close());
    const rc = await startRealCluster({ hostPorts: [s3.port] });
    cleanups.push(() => rc.stop());
    const cp = rc.cp;
    opts.log(
      `${rc.nodes.length} real nodes and CoreDNS Ready in ${(rc.readyMs / 1000).toFixed(1)} s (logs in ${rc.dir})`,
    );
    const endpoint = `http://${HUB_HOST_IP}:${s3.port}`;
    opts.log(`S3 server (versitygw) serving on ${endpoint} for Pods (${s3.endpoint} here; data in ${s3.root})`);

    // The chart's defaults: the S3 server's private address needs no s3.endpointAllow.
    const operator = await installOperatorWithHelm(cp, { namespace: opts.operatorNamespace, logDir: rc.dir });
    cleanups.push(() => operator.stop());
    opts.log(
      `helm install of ${OPERATOR_CHART} (the operator's image, two controller replicas, webhook TLS from cert-manager) done in ${(operator.installMs / 1000).toFixed(1)} s`,
    );
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: [
          {
            apiVersion: "networking.k8s.io/v1",
            kind: "NetworkPolicy",
            metadata: { name: "local-s3", namespace: opts.operatorNamespace },
            spec: {
              podSelector: { matchLabels: { "app.kubernetes.io/component": "controller" } },
              policyTypes: ["Egress"],
              egress: [
                { to: [{ ipBlock: { cidr: `${HUB_HOST_IP}/32` } }], ports: [{ port: s3.port, protocol: "TCP" }] },
              ],
            },
          },
          {
            apiVersion: "networking.k8s.io/v1",
            kind: "NetworkPolicy",
            metadata: { name: "local-access", namespace: opts.namespace },
            spec: {
              podSelector: {},
              policyTypes: ["Ingress"],
              ingress: [{ from: [{ ipBlock: { cidr: HUB_CIDR } }], ports: [{ port: 4001, protocol: "TCP" }] }],
            },
          },
        ],
      }),
    });
    opts.log(
      `NetworkPolicies local-s3 (${opts.operatorNamespace}: the controller may reach ${endpoint}) and local-access (${opts.namespace}: this machine may reach port 4001)`,
    );
    const tunnels = await startPodTunnels({
      client: new KubeClient(loadKubeConfig(cp.kubeconfigPath), new Registry()),
      namespace: opts.namespace,
      egressSocket: rc.egressSocket,
      ports: [4001],
    });
    cleanups.push(() => tunnels.stop());
    return {
      cp,
      nodeNames: rc.nodes.map((n) => n.name),
      s3: { endpoint, credentials: s3.credentials, root: s3.root },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
