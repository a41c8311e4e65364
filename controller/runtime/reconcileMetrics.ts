// controller-runtime's reconcile metrics, so existing dashboards work: every controller of a
// process shares the three metrics and labels its own series with its name.
import { performance } from "node:perf_hooks";
import type { Counter, Histogram, Registry } from "prom-client";
import { counter, histogram } from "./metrics.js";
import type { HandlerResult } from "./workqueue.js";

export interface ReconcileMetrics {
  total: Counter<"controller" | "result">;
  errors: Counter<"controller">;
  time: Histogram<"controller">;
}

/** controller-runtime's buckets, fine below a second where most reconciles end. */
const TIME_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2,
  2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

/** The reconcile metrics in `registry`; the first controller to ask creates them, the others reuse them. */
export function reconcileMetrics(registry: Registry): ReconcileMetrics {
  return {
    total: counter(registry, "controller_runtime_reconcile_total", "Total number of reconciliations per controller", [
      "controller",
      "result",
    ]),
    errors: counter(
      registry,
      "controller_runtime_reconcile_errors_total",
      "Total number of reconciliation errors per controller",
      ["controller"],
    ),
    time: histogram(
      registry,
      "controller_runtime_reconcile_time_seconds",
      "Length of time per reconciliation per controller",
      ["controller"],
      TIME_BUCKETS,
    ),
  };
}

/**
 * Runs one reconcile and counts it as controller-runtime does: `success`, `requeue_after` or
 * `error` (the error rethrown, for the queue's backoff), and its time, also when it failed.
 */
export async function measureReconcile<R extends HandlerResult | undefined>(
  metrics: ReconcileMetrics,
  controller: string,
  reconcile: () => Promise<R>,
): Promise<R> {
  const started = performance.now();
  try {
    const result = await reconcile();
    metrics.total.inc({ controller, result: result?.requeueAfterMs === undefined ? "success" : "requeue_after" });
    return result;
  } catch (err) {
    metrics.total.inc({ controller, result: "error" });
    metrics.errors.inc({ controller });
    throw err;
  } finally {
    metrics.time.observe({ controller }, (performance.now() - started) / 1000);
  }
}
