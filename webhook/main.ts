// Entry point of the admission webhook: settings, certificate, server, signals.
import { makeMetricsAuthorizer } from "../shared/metrics-auth.js";
import { reviewClient } from "./apiServer.js";
import { ConfigError, parseConfig, usage } from "./config.js";
import { warmUp } from "./handlers.js";
import { createLogger, flushLogs, type Logger } from "./log.js";
import { WebhookMetrics } from "./metrics.js";
import { startWebhookServer } from "./server.js";
import { CertWatcher, resolveCertPaths } from "./tls.js";

async function exit(logger: Logger, code: number): Promise<never> {
  await flushLogs(logger);
  process.exit(code);
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`webhook: ${err.message}\n`);
    process.exit(2);
  }
  if (parsed === "help") {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  const config = parsed;
  const logger = createLogger(config.logLevel);
  process.on("uncaughtException", (err) => {
    logger.fatal({ err }, "uncaught exception");
    void exit(logger, 1);
  });

  try {
    const metrics = new WebhookMetrics();
    const certs = new CertWatcher(resolveCertPaths(config), {
      pollIntervalMs: config.certPollIntervalMs,
      logger,
      metrics,
    });
    const { certificate } = certs;
    logger.info(
      {
        ...certs.paths,
        subject: certificate.subject,
        subjectAltName: certificate.subjectAltName,
        notAfter: certificate.notAfter,
      },
      "serving certificate loaded",
    );
    warmUp();
    const authorizeMetrics =
      config.metricsSecure && config.metricsBindAddress !== "0"
        ? makeMetricsAuthorizer(reviewClient(config.kubeconfig))
        : undefined;
    const server = await startWebhookServer({ config, logger, metrics, cert: certificate, authorizeMetrics });
    certs.start((cert) => server.setCertificate(cert));

    const shutdown = async (signal: string) => {
      logger.info({ signal }, "shutting down");
      certs.stop();
      await server.drain();
      logger.info("drained; exiting");
      await exit(logger, 0);
    };
    process.once("SIGTERM", () => void shutdown("SIGTERM"));
    process.once("SIGINT", () => void shutdown("SIGINT"));
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, "webhook failed to start");
    await exit(logger, 1);
  }
}

await main();
