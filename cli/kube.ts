// How the plugin finds its cluster: the way kubectl does. --kubeconfig, else $KUBECONFIG (a list
// of files), else ~/.kube/config; --context, else the current context; -n, else the context's
// namespace, else "default".
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { KubeClient, type KubeRequest } from "../controller/runtime/kubeClient.js";
import { CliError, kubeFailure } from "./errors.js";

export interface ConnectionFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

/** One API server and namespace for the whole command. */
export class Kube {
  private constructor(
    private readonly client: KubeClient,
    readonly namespace: string,
    readonly server: string,
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
    return new Kube(new KubeClient(kc, new Registry()), namespace, server);
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
