// What to do when the API server refuses to evict a node's Pod (HTTP 429). The operator's
// voluntary disruptions (a rolling update's step) go through the Eviction API rather than a
// plain delete: the API server checks the PodDisruptionBudget and decrements its
// disruptionsAllowed with an optimistic-concurrency write, so a `kubectl drain` that evicts at
// the same moment is admitted only if the budget still allows it. A plain delete bypasses that
// check, and a drain's eviction could be admitted before the disruption controller counted the
// deleted voter: two voters down.
//
// But the API server also refuses every eviction while the budget's status was never computed,
// and a plane without a disruption controller (no kube-controller-manager, or one without that
// controller) never computes it: there an eviction can never succeed, so the operator falls back
// to a delete, which its plan's own gates (one disruptive action at a time, quorum) already made
// safe. A status that exists but is older than the budget's spec means a disruption controller
// runs and has not caught up with an edit yet (the operator's own, after a scale): wait for it,
// as for a refusal by a current status (a drain, or a voter down).
import type { V1PodDisruptionBudget } from "@kubernetes/client-node";

/** How soon a refused eviction is tried again (the next reconcile re-plans it). */
export const EVICTION_RETRY_MS = 5000;

export type AfterRefusedEviction =
  /** No disruption controller has looked at the budget: delete, and say why. */
  | { do: "delete"; why: string }
  /** The budget, computed and current, refuses: wait for it. */
  | { do: "wait"; reason: string; message: string; warning: boolean; retryAfterMs: number };

export const EVICTION_REFUSED = "EvictionRefusedByBudget";

/**
 * `pdb` is the operator's own budget for the cluster, as cached; undefined when the cache has
 * none (just created, or another budget of the user's refused it): then waiting is the safe
 * answer, and the next reconcile sees the budget.
 */
export function afterRefusedEviction(pod: string, pdb: V1PodDisruptionBudget | undefined): AfterRefusedEviction {
  const wait = (why: string): AfterRefusedEviction => ({
    do: "wait",
    reason: EVICTION_REFUSED,
    message: `eviction of Pod ${pod} refused: ${why}; trying again within ${EVICTION_RETRY_MS / 1000} s`,
    warning: false,
    retryAfterMs: EVICTION_RETRY_MS,
  });
  if (!pdb)
    return wait("by a PodDisruptionBudget the operator has not cached (its own is new, or another selects the Pod)");
  const name = pdb.metadata?.name ?? "?";
  const generation = pdb.metadata?.generation;
  const observed = pdb.status?.observedGeneration;
  if (observed === undefined) {
    return {
      do: "delete",
      why: `PodDisruptionBudget ${name} has no status.observedGeneration for metadata.generation ${generation ?? "?"}: no disruption controller computes it here, so no eviction can pass; deleted the Pod instead`,
    };
  }
  if (generation !== undefined && observed < generation)
    return wait(
      `PodDisruptionBudget ${name} was computed for generation ${observed}, not yet for its current ${generation}`,
    );
  const s = pdb.status!;
  return wait(
    `PodDisruptionBudget ${name} allows ${s.disruptionsAllowed ?? 0} disruptions (${s.currentHealthy ?? 0} healthy, ${s.desiredHealthy ?? 0} needed): a drain or another voter down holds it`,
  );
}
