// The floor under the controller's convergence time: the objects the operator's run ends with
// (each RqCluster, its finalizer, three Services, a PDB, a NetworkPolicy, three PVCs and three Pods rendered by the
// operator's own renderers, each Pod marked Ready, one status write), written with a plain
// client on the same API server, with the bench's parallelism: `parallelism` writes in flight
// for what the bench and the controller create, and as many again for the Pods' status, as the
// bench's kubelet has. Nothing waits on anything but its own object, so the API server sets the
// pace; convergence / floor says how much of the time is the operator's own.
import { performance } from "node:perf_hooks";
import type { KubernetesObject } from "@kubernetes/client-node";
import { applyDefaults, FINALIZER, type RqCluster } from "../shared/index.js";
import {
  renderClientService,
  renderHeadlessService,
  renderNetworkPolicy,
  renderPdb,
  renderPvc,
  renderReadService,
} from "../controller/rqcluster/render/children.js";
import { clusterView } from "../controller/rqcluster/render/cluster.js";
import { desiredMembers } from "../controller/rqcluster/render/members.js";
import { renderPod } from "../controller/rqcluster/render/pod.js";
import type { BenchApi } from "./controller-api.js";
import { Limiter } from "./controller-api.js";

const MERGE = "application/merge-patch+json";
const VOTERS = 3;
const ADDRESSING = { kind: "dns", clusterDomain: "cluster.local" } as const;
/** The namespace the bench's controller runs as (its NetworkPolicies admit it). */
const OPERATOR_NAMESPACE = "rqlite-operator-system";

export interface FloorResult {
  ms: number;
  requests: number;
}

/** Writes `n` clusters' objects into `namespace` (see above). */
export async function measureFloor(
  api: BenchApi,
  namespace: string,
  n: number,
  parallelism: number,
): Promise<FloorResult> {
  const writes = new Limiter(parallelism);
  const kubelet = new Limiter(parallelism);
  let requests = 0;
  const send = (limiter: Limiter, method: "POST" | "PATCH", path: string, body: unknown, contentType?: string) =>
    limiter.run(() => {
      requests++;
      return api.request<KubernetesObject>(method, path, body, contentType);
    });
  const core = `/api/v1/namespaces/${namespace}`;
  const clusters = `/apis/rqlite.io/v1alpha1/namespaces/${namespace}/rqclusters`;

  const oneCluster = async (i: number) => {
    const created = (await send(writes, "POST", clusters, {
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: `floor-${i}` },
      spec: { replicas: VOTERS },
    })) as RqCluster;
    const c = clusterView(applyDefaults(created));
    const members = desiredMembers(c.name, VOTERS, 0);
    const pod = async (m: (typeof members)[number]) => {
      await send(
        writes,
        "POST",
        `${core}/pods`,
        renderPod(c, { member: m, bootstrapExpect: VOTERS, addressing: ADDRESSING }),
      );
      await send(
        kubelet,
        "PATCH",
        `${core}/pods/${m.name}/status`,
        {
          status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
        },
        MERGE,
      );
    };
    await Promise.all([
      send(writes, "PATCH", `${clusters}/${c.name}`, { metadata: { finalizers: [FINALIZER] } }, MERGE),
      send(writes, "POST", `${core}/services`, renderHeadlessService(c)),
      send(writes, "POST", `${core}/services`, renderClientService(c)),
      send(writes, "POST", `${core}/services`, renderReadService(c)),
      send(
        writes,
        "POST",
        `/apis/networking.k8s.io/v1/namespaces/${namespace}/networkpolicies`,
        renderNetworkPolicy(c, OPERATOR_NAMESPACE),
      ),
      send(writes, "POST", `/apis/policy/v1/namespaces/${namespace}/poddisruptionbudgets`, renderPdb(c, VOTERS)),
      ...members.map((m) => send(writes, "POST", `${core}/persistentvolumeclaims`, renderPvc(c, m, VOTERS))),
      ...members.map(pod),
    ]);
    await send(
      writes,
      "PATCH",
      `${clusters}/${c.name}/status`,
      {
        status: { phase: "Running", replicas: VOTERS, readyReplicas: VOTERS },
      },
      MERGE,
    );
  };

  const t0 = performance.now();
  await Promise.all(Array.from({ length: n }, (_, i) => oneCluster(i)));
  return { ms: Math.round(performance.now() - t0), requests };
}
