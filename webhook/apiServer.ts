// The webhook's only calls to the API server: the TokenReviews and SubjectAccessReviews that
// decide who may read its /metrics (--metrics-secure). Credentials come from --kubeconfig, else
// the Pod's ServiceAccount, whose token the client re-reads as the kubelet rotates it.
import { request, type RequestOptions } from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import type { ReviewClient } from "../shared/metrics-auth.js";

const TIMEOUT_MS = 10_000;
/** A review's answer is a few hundred bytes; anything far larger is not one. */
const MAX_ANSWER_BYTES = 1 << 20;

export function reviewClient(kubeconfig: string | undefined): ReviewClient {
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else
    throw new Error("--metrics-secure asks the API server who may read /metrics: pass --kubeconfig, or run in a Pod");
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error(`kubeconfig ${kubeconfig}: no current cluster`);
  return {
    async request<T>(req: { method: "POST"; path: string; body: unknown }): Promise<T> {
      const opts: RequestOptions = {};
      await kc.applyToHTTPSOptions(opts);
      const body = JSON.stringify(req.body);
      const url = new URL(req.path, server);
      return new Promise<T>((resolve, reject) => {
        const r = request(
          url,
          {
            ...opts,
            method: req.method,
            headers: { ...opts.headers, "Content-Type": "application/json", Accept: "application/json" },
            timeout: TIMEOUT_MS,
          },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on("data", (c: Buffer) => {
              size += c.length;
              if (size > MAX_ANSWER_BYTES) res.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
              else chunks.push(c);
            });
            res.on("error", (err) => reject(new Error(`${req.method} ${url.pathname}: ${err.message}`)));
            res.on("end", () => {
              const text = Buffer.concat(chunks).toString("utf8");
              if (res.statusCode !== 201 && res.statusCode !== 200) {
                reject(new Error(`${req.method} ${url.pathname}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
                return;
              }
              try {
                resolve(JSON.parse(text) as T);
              } catch {
                reject(new Error(`${req.method} ${url.pathname}: the answer is not JSON`));
              }
            });
          },
        );
        r.on("timeout", () => r.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
        r.on("error", (err) => reject(new Error(`${req.method} ${url.pathname}: ${err.message}`)));
        r.end(body);
      });
    },
  };
}
