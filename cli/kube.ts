// How the plugin finds its cluster: the way kubectl does. --kubeconfig, else $KUBECONFIG (a list
// of files), else ~/.kube/config; --context, else the current context; -n, else the context's
// namespace, else "default".
import { CoreV1Api, KubeConfig, type V1Secret } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { PASSWORD_KEY, type Credentials } from "../controller/access/clusterView.js";
import { KubeClient, type KubeRequest } from "../controller/runtime/kubeClient.js";
import { objectPath } from "../controller/runtime/paths.js";
import { OPERATOR_RQLITE_USER, operatorAuthSecretName } from "../shared/names.js";
import { CliError, kubeFailure } from "./errors.js";

/**
 * How the plugin reaches rqlite: the API server's pod proxy, or a port-forward (portForward.ts),
 * which carries rqlite's credentials; auto picks the port-forward for a Pod that runs with -auth.
 */
export const TRANSPORTS = ["auto", "proxy", "port-forward"] as const;
export type Transport = (typeof TRANSPORTS)[number];

export interface ConnectionFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  transport?: Transport;
  /** The rqlite user for clusters with auth (password in $RQLITE_PASSWORD); default the operator's. */
  rqliteUser?: string;
}

/** One API server and namespace for the whole command. */
export class Kube {
  private readonly credentials = new Map<string, Promise<Credentials>>();

  private constructor(
    private readonly client: KubeClient,
    readonly config: KubeConfig,
    readonly namespace: string,
    readonly server: string,
    readonly transport: Transport,
    private readonly rqliteUser: string | undefined,
  ) {}

  static connect(flags: ConnectionFlags): Kube {
    const kc = new KubeConfig();
    try {
      if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
      else kc.loadFromDefault();
    } catch (err) {
      throw new CliError(
        `cannot load the kubeconfig ${flags.kubeconfig ?? process.env.KUBECONFIG ?? "~/.kube/config"}: ${(err as Error).message}`,
      );
    }
    if (flags.context) {
      if (!kc.getContextObject(flags.context))
        throw new CliError(
          `context "${flags.context}" is not in the kubeconfig; list them with kubectl config get-contexts`,
        );
      kc.setCurrentContext(flags.context);
    }
    const server = kc.getCurrentCluster()?.server;
    if (!server)
      throw new CliError(
        "no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or pick a context with --context",
      );
    const namespace = flags.namespace || kc.getContextObject(kc.getCurrentContext())?.namespace || "default";
    // Metrics are the operator's concern; the plugin's registry is thrown away.
    return new Kube(
      new KubeClient(kc, new Registry()),
      kc,
      namespace,
      server,
      flags.transport ?? "auto",
      flags.rqliteUser,
    );
  }

  /**
   * The rqlite credentials for a cluster with auth: --rqlite-user's, with the password from
   * $RQLITE_PASSWORD (never a flag, which any process list shows); else the operator's own user,
   * from the Secret the operator keeps for it (read with the caller's RBAC, so only someone who
   * could read that password anyway gets to use it).
   */
  rqliteCredentials(cluster: string): Promise<Credentials> {
    if (this.rqliteUser) {
      const password = process.env.RQLITE_PASSWORD;
      if (!password)
        return Promise.reject(
          new CliError(
            `--rqlite-user ${this.rqliteUser} needs the password in the environment variable RQLITE_PASSWORD`,
          ),
        );
      return Promise.resolve({ username: this.rqliteUser, password });
    }
    let found = this.credentials.get(cluster);
    if (!found) {
      const name = operatorAuthSecretName(cluster);
      found = this.find<V1Secret>(`get Secret ${this.namespace}/${name}`, {
        method: "GET",
        path: objectPath({ apiVersion: "v1", resource: "secrets", namespace: this.namespace, name }),
      }).then(
        (secret) => {
          const encoded = secret?.data?.[PASSWORD_KEY];
          if (!encoded)
            throw new CliError(
              `RqCluster ${this.namespace}/${cluster} runs with auth, but the operator's Secret ${name} with its ${PASSWORD_KEY} is not there (yet); pass --rqlite-user NAME with RQLITE_PASSWORD`,
            );
          return { username: OPERATOR_RQLITE_USER, password: Buffer.from(encoded, "base64").toString("utf8") };
        },
        (err: CliError) => {
          throw new CliError(
            `${err.message}; that Secret holds the operator's rqlite credentials, which RqCluster ${cluster}'s auth needs: or pass --rqlite-user NAME with RQLITE_PASSWORD`,
          );
        },
      );
      this.credentials.set(cluster, found);
    }
    return found;
  }

  /** A request whose failure becomes one line naming `what` and what to do. */
  async request<T>(what: string, req: KubeRequest): Promise<T> {
    try {
      return await this.client.request<T>({ timeoutMs: 30_000, ...req });
    } catch (err) {
      throw kubeFailure(err, what, this.server);
    }
  }

  /** Like request(), but resolves undefined for 404 Not Found. */
  async find<T>(what: string, req: KubeRequest): Promise<T | undefined> {
    try {
      return await this.client.request<T>({ timeoutMs: 30_000, ...req });
    } catch (err) {
      if ((err as { status?: number }).status === 404) return undefined;
      throw kubeFailure(err, what, this.server);
    }
  }

  /** The last lines of a Pod's log: text, which request() (JSON only) cannot read. */
  async podLog(namespace: string, pod: string, tailLines: number): Promise<string> {
    try {
      return await this.client.api(CoreV1Api).readNamespacedPodLog({ name: pod, namespace, tailLines });
    } catch (err) {
      throw kubeFailure(err, `read the log of Pod ${namespace}/${pod}`, this.server);
    }
  }

  /** The raw request, for callers (the rqlite proxy) that judge failures themselves. */
  raw<T>(req: KubeRequest): Promise<T> {
    return this.client.request<T>(req);
  }
}
