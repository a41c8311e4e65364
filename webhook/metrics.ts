// Prometheus metrics under controller-runtime's names, so dashboards and alerts written for Go
// operators read this webhook unchanged.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

export class WebhookMetrics {
  readonly registry = new Registry();

  private readonly requests = new Counter({
    name: "controller_runtime_webhook_requests_total",
    help: "Total number of admission requests by HTTP status code.",
    labelNames: ["webhook", "code"] as const,
    registers: [this.registry],
  });

  private readonly latency = new Histogram({
    name: "controller_runtime_webhook_latency_seconds",
    help: "Histogram of the latency of processing admission requests",
    labelNames: ["webhook"] as const,
    registers: [this.registry],
  });

  private readonly inFlight = new Gauge({
    name: "controller_runtime_webhook_requests_in_flight",
    help: "Current number of admission requests being served.",
    labelNames: ["webhook"] as const,
    registers: [this.registry],
  });

  private readonly certReads = new Counter({
    name: "certwatcher_read_certificate_total",
    help: "Total number of certificate reads",
    registers: [this.registry],
  });

  private readonly certReadErrors = new Counter({
    name: "certwatcher_read_certificate_errors_total",
    help: "Total number of certificate read errors",
    registers: [this.registry],
  });

  private readonly refused = new Counter({
    name: "rqlite_operator_webhook_connections_refused_total",
    help: "Connections closed at accept because a connection limit was reached, by limit.",
    labelNames: ["limit"] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Zeroes a webhook's series so they are scraped before its first request. */
  declare(webhook: string): void {
    this.inFlight.set({ webhook }, 0);
    this.latency.zero({ webhook });
  }

  /**
   * Counts a request in flight; the returned function records its end with the HTTP status and
   * returns its duration in seconds.
   */
  begin(webhook: string): (code: number) => number {
    this.inFlight.inc({ webhook });
    const started = process.hrtime.bigint();
    return (code) => {
      this.inFlight.dec({ webhook });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.latency.observe({ webhook }, seconds);
      this.requests.inc({ webhook, code: String(code) });
      return seconds;
    };
  }

  connectionRefused(limit: "max-connections" | "max-connections-per-peer"): void {
    this.refused.inc({ limit });
  }

  certificateRead(ok: boolean): void {
    this.certReads.inc();
    if (!ok) this.certReadErrors.inc();
  }
}
