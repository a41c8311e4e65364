// The HTTPS admission server (express) and the optional metrics/probe listener (HTTPS with
// authn/authz under --metrics-secure), with controller-runtime's timeouts, hot certificate swaps
// and a graceful drain.
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import express, { type ErrorRequestHandler, type RequestHandler, type Response } from "express";
import {
  badRequest,
  deniedResponse,
  failureStatus,
  parseAdmissionReview,
  review,
  statusDocument,
  type AdmissionRequest,
  type AdmissionResponse,
  type Status,
} from "./admissionReview.js";
import { HttpStatusError, jsonBody } from "./body.js";
import { HEADERS_TIMEOUT_MS, IDLE_TIMEOUT_MS, parseBindAddress, type WebhookConfig } from "./config.js";
import { admit, WEBHOOKS, type Webhook } from "./handlers.js";
import type { S3Policy } from "../shared/s3-endpoint.js";
import type { Logger } from "./log.js";
import type { WebhookMetrics } from "./metrics.js";
import { secureContextOptions, type ServingCert } from "./tls.js";
import type { MetricsDecision } from "../shared/metrics-auth.js";

export interface WebhookServerDeps {
  config: WebhookConfig;
  logger: Logger;
  metrics: WebhookMetrics;
  cert: ServingCert;
  webhooks?: readonly Webhook[];
  /** Asked before /metrics is served (--metrics-secure); anything but 200 is the answer. */
  authorizeMetrics?: (authorization: string | undefined) => Promise<MetricsDecision>;
}

export interface RunningWebhookServer {
  /** The bound HTTPS port (useful with port 0). */
  port: number;
  /** The bound metrics port, when the listener is on. */
  metricsPort?: number;
  /** Serves `cert` to new connections; open connections keep the one they negotiated. */
  setCertificate(cert: ServingCert): void;
  /** Stops accepting, lets in-flight requests finish, closes idle keep-alive connections. */
  drain(): Promise<void>;
}

interface Lifecycle {
  draining: boolean;
}

/** What the request log line says about one admission, filled in as the request is answered. */
interface Outcome {
  request?: AdmissionRequest;
  response?: AdmissionResponse;
  error?: string;
}

function outcomeOf(res: Response): Outcome {
  return (res.locals.outcome ??= {}) as Outcome;
}

/**
 * Every response goes out here, so a draining server asks clients not to reuse the connection.
 * Written straight to Node's response: express's res.json/res.send add charset, ETag and
 * freshness work an admission answer never needs, on the hot path.
 */
function send(res: Response, lifecycle: Lifecycle, code: number, body: unknown, contentType?: string): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const headers: Record<string, string | number> = {
    "Content-Type": contentType ?? (typeof body === "string" ? "text/plain; charset=utf-8" : "application/json"),
    "Content-Length": Buffer.byteLength(text),
  };
  if (lifecycle.draining) headers.Connection = "close";
  res.writeHead(code, headers).end(text);
}

function sendStatus(res: Response, lifecycle: Lifecycle, status: Status): void {
  outcomeOf(res).error = status.message;
  send(res, lifecycle, status.code, statusDocument(status));
}

function logAdmission(logger: Logger, webhook: string, res: Response, seconds: number): void {
  const { request, response, error } = outcomeOf(res);
  const fields = {
    webhook,
    uid: response?.uid,
    kind: request?.kind.kind,
    namespace: request?.namespace,
    name: request?.name,
    operation: request?.operation,
    dryRun: request?.dryRun,
    allowed: response?.allowed,
    code: response?.status?.code ?? res.statusCode,
    warnings: response?.warnings?.length,
    error: error ?? (response?.allowed === false && !request ? response.status?.message : undefined),
    aborted: res.writableFinished ? undefined : true,
    latencyMs: Math.round(seconds * 1e6) / 1e3,
  };
  if (fields.code >= 500) logger.error(fields, "admission failed");
  else if (!request) logger.warn(fields, "malformed admission request");
  else logger.info(fields, "admission");
}

/** Counts, times and logs every request to `webhook`, however it ends. */
function instrument(webhook: string, metrics: WebhookMetrics, logger: Logger): RequestHandler {
  return (_req, res, next) => {
    const end = metrics.begin(webhook);
    res.once("close", () => logAdmission(logger, webhook, res, end(res.statusCode)));
    next();
  };
}

function answer(webhook: Webhook, lifecycle: Lifecycle, policy: S3Policy): RequestHandler {
  return (req, res) => {
    const parsed = parseAdmissionReview(req.body);
    const outcome = outcomeOf(res);
    if (parsed.ok) {
      outcome.request = parsed.request;
      outcome.response = admit(webhook, parsed.request, policy);
    } else if (parsed.uid !== undefined) {
      outcome.response = deniedResponse(parsed.uid, badRequest(parsed.message), []);
    } else {
      sendStatus(res, lifecycle, badRequest(parsed.message));
      return;
    }
    send(res, lifecycle, 200, review(outcome.response));
  };
}

/** Answers body errors with their own status and anything unexpected with a 500. */
function errorHandler(lifecycle: Lifecycle): ErrorRequestHandler {
  // Express tells an error handler from middleware by its four parameters, so `_next` stays unused.
  return (err: unknown, _req, res, _next) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const status =
      err instanceof HttpStatusError
        ? err.status
        : failureStatus(500, "InternalError", `internal error: ${err instanceof Error ? err.message : String(err)}`);
    // The rest of an oversized body is never read: close the connection instead of draining it.
    if (status.code === 413) res.setHeader("Connection", "close");
    sendStatus(res, lifecycle, status);
  };
}

/** /healthz and /readyz, served on the HTTPS port (the kubelet's probes) and the metrics listener. */
function probes(lifecycle: Lifecycle): express.Router {
  const router = express.Router();
  router.get("/healthz", (_req, res) => send(res, lifecycle, 200, "ok"));
  // Not ready while draining, so the Service stops routing here before the port closes.
  router.get("/readyz", (_req, res) =>
    send(res, lifecycle, lifecycle.draining ? 503 : 200, lifecycle.draining ? "shutting down" : "ok"),
  );
  return router;
}

/**
 * /metrics, on the metrics listener only: the admission port is open to every Pod (the API
 * server's address is not known in advance), and metrics name the namespaces and clusters that
 * tenants write to.
 */
function metricsRoute(
  lifecycle: Lifecycle,
  metrics: WebhookMetrics,
  logger: Logger,
  authorize: WebhookServerDeps["authorizeMetrics"],
): express.Router {
  const router = express.Router();
  router.get("/metrics", async (req, res) => {
    const decision = await authorize?.(req.headers.authorization);
    if (decision && decision.code !== 200) {
      logger.debug({ code: decision.code, reason: decision.reason }, "refused a metrics request");
      send(res, lifecycle, decision.code, `${decision.reason}\n`);
      return;
    }
    send(res, lifecycle, 200, await metrics.registry.metrics(), metrics.registry.contentType);
  });
  return router;
}

function baseApp(): express.Express {
  const app = express();
  app.disable("x-powered-by");
  // Admission answers are never cached: hashing every body for an ETag is wasted work.
  app.set("etag", false);
  return app;
}

function notFound(lifecycle: Lifecycle, paths: string[]): RequestHandler {
  return (req, res) =>
    sendStatus(
      res,
      lifecycle,
      failureStatus(
        404,
        "NotFound",
        `no handler for ${req.method} ${req.path}; webhooks take POST at ${paths.join(", ")}`,
      ),
    );
}

export function createWebhookApp(deps: WebhookServerDeps, lifecycle: Lifecycle): express.Express {
  const { config, logger, metrics } = deps;
  const webhooks = deps.webhooks ?? WEBHOOKS;
  const app = baseApp();
  app.use(probes(lifecycle));
  const body = jsonBody(config.maxBodyBytes);
  for (const webhook of webhooks) {
    metrics.declare(webhook.path);
    app.post(
      webhook.path,
      instrument(webhook.path, metrics, logger),
      body,
      answer(webhook, lifecycle, config.s3Policy),
    );
  }
  app.use(
    notFound(
      lifecycle,
      webhooks.map((w) => w.path),
    ),
  );
  app.use(errorHandler(lifecycle));
  return app;
}

function listen(server: HttpServer | HttpsServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host || undefined, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

const CONNECTIONS_CHECKING_INTERVAL_MS = 1000;

/**
 * Closes a new TCP connection, before any TLS work, when its client address already holds
 * `max`. Counted from accept to close, handshakes included, so half-open handshakes from one
 * Pod cannot take the slots the API server needs.
 */
function limitConnectionsPerPeer(server: HttpsServer, max: number, metrics: WebhookMetrics): void {
  const open = new Map<string, number>();
  // Ahead of the TLS wrapping, so that a refused connection costs no TLS state.
  server.prependListener("connection", (socket: Socket) => {
    const peer = socket.remoteAddress ?? "";
    const held = open.get(peer) ?? 0;
    if (held >= max) {
      metrics.connectionRefused("max-connections-per-peer");
      socket.destroy();
      return;
    }
    open.set(peer, held + 1);
    socket.once("close", () => {
      const left = open.get(peer)! - 1;
      if (left === 0) open.delete(peer);
      else open.set(peer, left);
    });
  });
}

/** server.close() waits for open connections; after `timeoutMs` they are cut. */
function closeGracefully(server: HttpServer | HttpsServer, timeoutMs: number, logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      logger.warn({ timeoutMs }, "shutdown timeout reached; closing remaining connections");
      server.closeAllConnections();
      resolve();
    }, timeoutMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

export async function startWebhookServer(deps: WebhookServerDeps): Promise<RunningWebhookServer> {
  const { config, logger } = deps;
  const lifecycle: Lifecycle = { draining: false };
  const server = createHttpsServer(
    {
      ...secureContextOptions(deps.cert),
      handshakeTimeout: config.handshakeTimeoutMs,
      // Node checks the header and request timeouts on this tick (30 s by default), which would
      // let a slow client hold its connection three times longer than they say.
      connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
    },
    createWebhookApp(deps, lifecycle),
  );
  server.keepAliveTimeout = IDLE_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = config.requestTimeoutMs;
  // A connection that finished its handshake but sends no request is closed as one that is slow
  // to send its headers: without it, completed handshakes would hold their slots for ever.
  server.timeout = HEADERS_TIMEOUT_MS;
  server.maxConnections = config.maxConnections;
  limitConnectionsPerPeer(server, config.maxConnectionsPerPeer, deps.metrics);
  server.on("drop", () => deps.metrics.connectionRefused("max-connections"));
  server.on("tlsClientError", (err) => logger.debug({ err: err.message }, "TLS handshake failed"));
  const port = await listen(server, config.port, config.host);

  let metricsServer: HttpServer | HttpsServer | undefined;
  let metricsPort: number | undefined;
  if (config.metricsBindAddress !== "0") {
    const bind = parseBindAddress(config.metricsBindAddress, "--metrics-bind-address");
    const app = baseApp();
    app.use(probes(lifecycle));
    app.use(metricsRoute(lifecycle, deps.metrics, logger, deps.authorizeMetrics));
    metricsServer = config.metricsSecure
      ? createHttpsServer({ ...secureContextOptions(deps.cert), handshakeTimeout: config.handshakeTimeoutMs }, app)
      : createHttpServer(app);
    metricsServer.headersTimeout = HEADERS_TIMEOUT_MS;
    metricsServer.requestTimeout = config.requestTimeoutMs;
    try {
      metricsPort = await listen(metricsServer, bind.port, bind.host);
    } catch (err) {
      server.close();
      throw new Error(`cannot listen for metrics on ${config.metricsBindAddress}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  logger.info(
    {
      host: config.host || "*",
      port,
      metricsPort,
      metricsSecure: config.metricsSecure,
      maxBodyBytes: config.maxBodyBytes,
    },
    "webhook server listening",
  );

  let drained: Promise<void> | undefined;
  return {
    port,
    metricsPort,
    setCertificate(cert) {
      server.setSecureContext(secureContextOptions(cert));
      if (metricsServer && "setSecureContext" in metricsServer)
        metricsServer.setSecureContext(secureContextOptions(cert));
    },
    drain() {
      drained ??= (async () => {
        lifecycle.draining = true;
        logger.info(
          { shutdownTimeoutMs: config.shutdownTimeoutMs },
          "draining: no new connections, finishing in-flight requests",
        );
        await Promise.all(
          [server, metricsServer]
            .filter((s) => s !== undefined)
            .map((s) => closeGracefully(s, config.shutdownTimeoutMs, logger)),
        );
      })();
      return drained;
    },
  };
}
