import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/**
 * The metric called `name` in `registry`, created on first use. Several queues, informers or
 * clients share one registry and each labels its own series, so the second one to start must
 * reuse the metric instead of registering it again (prom-client throws on a duplicate name).
 */
function registered<M>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

export function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> {
  return registered(registry, name, () => new Counter({ name, help, labelNames, registers: [registry] }));
}

export function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Gauge<L> {
  return registered(registry, name, () => new Gauge({ name, help, labelNames, registers: [registry] }));
}

export function histogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[],
  buckets: number[],
): Histogram<L> {
  return registered(registry, name, () => new Histogram({ name, help, labelNames, buckets, registers: [registry] }));
}
