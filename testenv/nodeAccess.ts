// How a test tool (the invariant monitor, the acknowledged-rows writer) reaches one rqlite node
// while TLS or auth is being rolled in or out: mid-roll some nodes serve HTTPS and others plain
// HTTP, so the scheme is taken per node from what its Pod runs now (-http-cert in its rqlite
// arguments), as the operator does, never from the cluster's spec. Credentials are sent to every
// node: a node without -auth ignores them, and one with -auth needs them.
import type { V1Pod, V1PodList } from "@kubernetes/client-node";
import { RqliteClient } from "../controller/rqlite/client.js";
import type { KubeClient } from "../controller/runtime/kubeClient.js";
import { objectPath } from "../controller/runtime/paths.js";
import { loopbackAddress } from "../shared/loopback-address.js";
import { HTTP_PORT, LABEL_CLUSTER, RQLITE_CONTAINER } from "../shared/names.js";

/**
 * A test reads whole tables back (100 MB of rows) to compare them with a backup: its clients
 * lift the cap the operator keeps on rqlite answers (4 MiB), as they talk only to real rqlited.
 */
export const TEST_MAX_ANSWER_BYTES = 1 << 30;

export interface NodeCredentials {
  /** PEM CA that signs the nodes' HTTPS certificates (spec.tls.http's ca.crt). */
  ca?: string;
  /** An rqlite user with the "all" permission. */
  auth?: { username: string; password: string };
}

export class NodeAccess {
  /** Pod name -> serves HTTPS, as its latest Pod says; a Pod not seen yet is taken as HTTP. */
  private readonly https = new Map<string, boolean>();

  constructor(
    readonly namespace: string,
    private readonly creds: NodeCredentials = {},
  ) {}

  /** Records how each Pod's rqlited serves its API, from the Pod's arguments. */
  learn(pods: V1Pod[]): void {
    for (const p of pods) {
      const args = p.spec?.containers.find((c) => c.name === RQLITE_CONTAINER)?.args ?? [];
      this.https.set(
        p.metadata!.name!,
        args.some((a) => a.startsWith("-http-cert=")),
      );
    }
  }

  /** Reads the cluster's Pods from the API server and learns from them. */
  async refresh(client: KubeClient, cluster: string, timeoutMs = 2000): Promise<V1Pod[]> {
    const list = await client.request<V1PodList>({
      method: "GET",
      path: objectPath({ apiVersion: "v1", resource: "pods", namespace: this.namespace }),
      query: { labelSelector: `${LABEL_CLUSTER}=${cluster}` },
      timeoutMs,
    });
    this.learn(list.items);
    return list.items;
  }

  client(pod: string, timeoutMs?: number): RqliteClient {
    const https = this.https.get(pod) ?? false;
    return new RqliteClient(`${https ? "https" : "http"}://${loopbackAddress(this.namespace, pod)}:${HTTP_PORT}`, {
      nodeId: pod,
      maxAnswerBytes: TEST_MAX_ANSWER_BYTES,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(this.creds.auth ? { auth: this.creds.auth } : {}),
      ...(https && this.creds.ca ? { tls: { ca: this.creds.ca } } : {}),
    });
  }
}
