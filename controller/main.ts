// Entry point of the controller: `node dist/controller/main.js --leader-elect`.
// Two replicas run; only the Lease holder reconciles. SIGTERM stops the workers, releases the
// Lease so the standby takes over at once, and exits 0. Losing the Lease exits 1 so that nothing
// from the old leadership acts beside the new leader (the kubelet restarts the container). A
// leader whose caches do not sync (--cache-sync-timeout) or stop following the cluster
// (--cache-failure-timeout) releases the Lease and exits 1 too: holding it without reconciling
// would wedge the operator while a healthy standby waits.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { hostname } from "node:os";
import { collectDefaultMetrics, Registry } from "prom-client";
import { setupClusterController } from "./rqcluster/controller.js";
import { setupBackupController } from "./rqbackup/controller.js";
import { setupScheduledBackupController } from "./rqscheduledbackup/controller.js";
import { DEFAULT_RETRY } from "./rqbackup/plan.js";
import { parseControllerConfig, type ControllerConfig } from "./config.js";
import { KubeClient, loadKubeConfig } from "./runtime/kubeClient.js";
import { Manager } from "./runtime/manager.js";
import type { S3Gate } from "./access/s3.js";
import { apiServerOf } from "../shared/s3-endpoint.js";
import { logger } from "./runtime/log.js";
import { servingCert } from "./runtime/servingCert.js";
import { makeMetricsAuthorizer, type MetricsDecision } from "../shared/metrics-auth.js";

type Answer = [number, string, string?];

interface ListenOptions {
  /** Serve HTTPS with this certificate. */
  tls?: { cert: string; key: string };
  /** Asked before every route; anything but 200 is the answer. */
  authorize?: (authorization: string | undefined) => Promise<MetricsDecision>;
}

function listen(
  name: string,
  address: { host: string; port: number },
  routes: Record<string, () => Answer | Promise<Answer>>,
  opts: ListenOptions = {},
): Promise<Server> {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const route = routes[(req.url ?? "/").split("?")[0]!];
    if (!route) {
      res.writeHead(404).end("not found\n");
      return;
    }
    Promise.resolve(opts.authorize?.(req.headers.authorization))
      .then((d): Answer | Promise<Answer> => {
        if (!d || d.code === 200) return route();
        logger.debug({ server: name, code: d.code, reason: d.reason }, "refused a request");
        return [d.code, `${d.reason}\n`];
      })
      .then(
        ([code, body, type]) => res.writeHead(code, { "Content-Type": type ?? "text/plain" }).end(body),
        (err: Error) => res.writeHead(500).end(`${err.message}\n`),
      );
  };
  const server = opts.tls ? createHttpsServer(opts.tls, handler) : createServer(handler);
  return new Promise((resolve, reject) => {
    server.once("error", (err) =>
      reject(new Error(`${name} server cannot listen on ${address.host}:${address.port}: ${err.message}`)),
    );
    server.listen(address.port, address.host, () => {
      const a = server.address();
      logger.info(
        { server: name, address: typeof a === "object" && a ? `${a.address}:${a.port}` : a },
        `${name} server listening`,
      );
      resolve(server);
    });
  });
}

async function secureMetrics(client: KubeClient, certDir: string | undefined): Promise<ListenOptions> {
  const { cert, key, source } = await servingCert(certDir);
  logger.info({ certificate: source }, "metrics over HTTPS, for callers allowed to get /metrics");
  return { tls: { cert, key }, authorize: makeMetricsAuthorizer(client) };
}

async function main(cfg: ControllerConfig): Promise<number> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const kubeConfig = loadKubeConfig(cfg.kubeconfig);
  const client = new KubeClient(kubeConfig, registry);
  const s3: S3Gate = {
    policy: {
      allow: cfg.s3EndpointAllow,
      apiServer: apiServerOf([
        process.env.KUBERNETES_SERVICE_HOST,
        new URL(kubeConfig.getCurrentCluster()!.server).hostname,
      ]),
      ambientCredentialsNamespaces: cfg.ambientCredentialsNamespaces,
    },
  };
  const identity = `${hostname()}_${process.pid}`;
  // One cache per kind, the Lease, health and readiness: the controllers only declare.
  const mgr = new Manager({
    client,
    registry,
    namespaces: cfg.namespaces,
    cacheSyncTimeoutMs: cfg.cacheSyncTimeoutMs,
    cacheFailureTimeoutMs: cfg.cacheFailureTimeoutMs,
    ...(cfg.leaderElect
      ? {
          leaderElection: {
            identity,
            leaseName: cfg.leaseName,
            namespace: cfg.leaseNamespace,
            leaseDurationSeconds: cfg.leaseDurationSeconds,
            renewDeadlineSeconds: cfg.renewDeadlineSeconds,
            retryPeriodSeconds: cfg.retryPeriodSeconds,
          },
        }
      : {}),
  });
  // The last ca.crt read from each tls.http Secret, for both controllers: one degrades as the other.
  const knownCas = new Map<string, string>();
  setupClusterController(mgr, {
    knownCas,
    workers: cfg.workers,
    addressing: cfg.addressing,
    s3,
    operatorNamespace: cfg.operatorNamespace,
    identity,
    resyncMs: cfg.resyncMs,
    nodeFailureTimeoutMs: cfg.nodeFailureTimeoutMs,
    scrapeIntervalMs: cfg.scrapeIntervalMs,
    ...(cfg.backupJobImage ? { jobImage: cfg.backupJobImage } : {}),
  });
  setupBackupController(mgr, {
    knownCas,
    identity,
    workers: cfg.backupWorkers,
    maxPerNamespace: cfg.backupMaxPerNamespace,
    deadlineMs: cfg.backupDeadlineMs,
    verifyMaxBytes: cfg.backupVerifyMaxBytes,
    addressing: cfg.addressing,
    s3,
    retry: { ...DEFAULT_RETRY, baseDelayMs: cfg.backupRetryBaseMs },
    ...(cfg.backupJobImage ? { jobImage: cfg.backupJobImage } : {}),
    operatorNamespace: cfg.operatorNamespace,
  });
  setupScheduledBackupController(mgr, {
    identity,
    s3,
    ...(cfg.backupJobImage ? { jobImage: cfg.backupJobImage } : {}),
    operatorNamespace: cfg.operatorNamespace,
  });
  const servers: Server[] = [];
  if (cfg.metricsAddress) {
    servers.push(
      await listen(
        "metrics",
        cfg.metricsAddress,
        { "/metrics": async () => [200, await registry.metrics(), registry.contentType] },
        cfg.metricsSecure ? await secureMetrics(client, cfg.metricsCertDir) : {},
      ),
    );
  }
  if (cfg.healthAddress) {
    servers.push(
      await listen("health", cfg.healthAddress, {
        "/healthz": () => {
          const problem = mgr.healthProblem();
          return problem ? [500, `${problem}\n`] : [200, "ok\n"];
        },
        "/readyz": () => (mgr.ready() ? [200, "ok\n"] : [503, "caches not synced\n"]),
      }),
    );
  }

  const stop = new AbortController();
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.once(sig, () => {
      logger.info({ signal: sig }, "stopping: finishing work in flight, then releasing the lease");
      stop.abort();
    });
  }

  const end = await mgr.start(stop.signal);
  let code = 0;
  if (end === "lost") {
    logger.error("lost the lease; exiting so that a fresh process campaigns again");
    code = 1;
  } else if (end === "failed") {
    logger.error("the controller failed while leading; the lease is released, exiting so that a standby takes over");
    code = 1;
  }
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return code;
}

let cfg: ControllerConfig;
try {
  cfg = parseControllerConfig(process.argv.slice(2));
} catch (err) {
  console.error(`rqlite-operator controller: ${(err as Error).message}`);
  process.exit(2);
}
main(cfg).then(
  (code) => process.exit(code),
  (err: Error) => {
    logger.fatal({ err: err.message }, "controller failed");
    process.exit(1);
  },
);
