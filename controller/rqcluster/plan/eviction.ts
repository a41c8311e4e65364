// What to do when the API server refuses to evict a node's Pod. The operator's voluntary
// disruptions (a rolling update's step on a cluster of 3 or more voters) go through the Eviction
// API rather than a plain delete: the API server checks the PodDisruptionBudget and decrements its
// disruptionsAllowed with an optimistic-concurrency write, so a `kubectl drain` that evicts at the
// same moment is admitted only if the budget still allows it. A plain delete bypasses that
// check, and a drain's eviction could be admitted before the disruption controller counted the
// deleted voter: two voters down.
//
// But the API server also refuses every eviction while a budget's status was never computed, and
// a plane without a disruption controller (no kube-controller-manager, or one without that
// controller) never computes any: there an eviction can never succeed, so the operator falls back
// to a delete, which its plan's own gates (one disruptive action at a time, quorum) already made
// safe. Whether a disruption controller runs is judged over every budget the operator sees, not
// its own alone: its own may be new (just recreated), and the status it lacks then says nothing.
// A status that exists but is older than the budget's spec means the controller has not caught up
// with an edit yet (the operator's own, after a scale): wait for it, as for a refusal by a current
// status (a drain, or a voter down).
//
// A second budget over the same Pods (a user's own) makes the API server refuse every eviction of
// them with a 500 ("more than one PodDisruptionBudget"), for drains too: a person must remove or
// narrow it, which the plan reports as a problem (otherBudgets) instead of evicting in a loop.
import type { V1LabelSelector, V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import type { Wait } from "./types.js";

/** How soon a refused eviction is tried again (the next reconcile re-plans it). */
export const EVICTION_RETRY_MS = 5000;

/**
 * How long a budget may stay without a status before the operator concludes that no disruption
 * controller runs. Kubernetes' disruption controller computes a new budget within a second or
 * two; this covers a controller-manager that restarts or is slow under load.
 */
export const DISRUPTION_CONTROLLER_GRACE_MS = 30_000;

export type AfterRefusedEviction =
  /** No disruption controller runs here: delete, and say why. */
  | { do: "delete"; why: string }
  /** The budget refuses, or it cannot be told yet whether one computes it: wait. */
  | { do: "wait"; reason: string; message: string; warning: boolean; retryAfterMs: number };

export const EVICTION_REFUSED = "EvictionRefusedByBudget";
/** Another PodDisruptionBudget selects the cluster's Pods: the person who made it must act. */
export const BUDGET_CONFLICT = "PodDisruptionBudgetConflict";

/**
 * Whether a disruption controller computes budgets here, judged over every budget in the cache:
 * true once any has a status.observedGeneration; false when none has, though one has existed for
 * DISRUPTION_CONTROLLER_GRACE_MS; undefined while that cannot be told yet. `seenBefore`: the
 * controller saw one computed earlier in its life (a budget deleted since still proves it).
 */
export function disruptionControllerRuns(
  pdbs: readonly V1PodDisruptionBudget[],
  now: number,
  seenBefore = false,
): boolean | undefined {
  if (seenBefore || pdbs.some((p) => p.status?.observedGeneration !== undefined)) return true;
  const oldest = Math.min(...pdbs.map((p) => new Date(p.metadata?.creationTimestamp ?? now).getTime()));
  return now - oldest >= DISRUPTION_CONTROLLER_GRACE_MS ? false : undefined;
}

/**
 * `pdb` is the operator's own budget for the cluster, as cached; undefined when the cache has
 * none (just created, or another budget of the user's refused it): then waiting is the safe
 * answer, and the next reconcile sees the budget. `controllerRuns`: see disruptionControllerRuns.
 */
export function afterRefusedEviction(
  pod: string,
  pdb: V1PodDisruptionBudget | undefined,
  controllerRuns: boolean | undefined,
): AfterRefusedEviction {
  const wait = (why: string): AfterRefusedEviction => ({
    do: "wait",
    reason: EVICTION_REFUSED,
    message: `eviction of Pod ${pod} refused: ${why}; trying again within ${EVICTION_RETRY_MS / 1000} s`,
    warning: false,
    retryAfterMs: EVICTION_RETRY_MS,
  });
  const name = pdb?.metadata?.name ?? "?";
  if (controllerRuns === false) {
    return {
      do: "delete",
      why: `no PodDisruptionBudget here has a status after ${DISRUPTION_CONTROLLER_GRACE_MS / 1000} s: no disruption controller computes them, so no eviction can pass; deleted the Pod instead`,
    };
  }
  if (!pdb)
    return wait("by a PodDisruptionBudget the operator has not cached (its own is new, or another selects the Pod)");
  const generation = pdb.metadata?.generation;
  const observed = pdb.status?.observedGeneration;
  if (observed === undefined)
    return wait(
      controllerRuns
        ? `PodDisruptionBudget ${name} is new and the disruption controller has not computed it yet`
        : `PodDisruptionBudget ${name} has no status yet, and whether a disruption controller runs cannot be told before ${DISRUPTION_CONTROLLER_GRACE_MS / 1000} s`,
    );
  if (generation !== undefined && observed < generation)
    return wait(
      `PodDisruptionBudget ${name} was computed for generation ${observed}, not yet for its current ${generation}`,
    );
  const s = pdb.status!;
  const healthy = s.currentHealthy ?? 0;
  const holder =
    healthy < (s.expectedPods ?? 0)
      ? "a voter is down or not Ready"
      : "a drain or another eviction took the disruption it allowed";
  return wait(
    `PodDisruptionBudget ${name} allows ${s.disruptionsAllowed ?? 0} disruptions (${healthy} healthy, ${s.desiredHealthy ?? 0} needed): ${holder}`,
  );
}

/** The API server's answer to an eviction of a Pod that more than one budget selects. */
export const isMultipleBudgetsRefusal = (status: number, message: string): boolean =>
  status === 500 && /more than one PodDisruptionBudget/i.test(message);

/** The wait for a refusal by several budgets: the plan reports the budgets by name (otherBudgetsWait). */
export function multipleBudgetsWait(pod: string, message: string): Wait & { retryAfterMs: number } {
  return {
    reason: BUDGET_CONFLICT,
    message: `eviction of Pod ${pod} refused: ${message}; delete the other PodDisruptionBudget or narrow its selector`,
    warning: true,
    retryAfterMs: EVICTION_RETRY_MS,
  };
}

/** Whether `selector` (a PodDisruptionBudget's: a null selector selects nothing, `{}` everything) matches `labels`. */
export function selects(selector: V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  const has = (k: string) => Object.prototype.hasOwnProperty.call(labels, k);
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => has(k) && labels[k] === v);
  return (
    byLabel &&
    (selector.matchExpressions ?? []).every((e) => {
      const values = e.values ?? [];
      switch (e.operator) {
        case "In":
          return has(e.key) && values.includes(labels[e.key]!);
        case "NotIn":
          return !has(e.key) || !values.includes(labels[e.key]!);
        case "Exists":
          return has(e.key);
        case "DoesNotExist":
          return !has(e.key);
        default:
          // An operator the API server would have refused: select nothing rather than guess.
          return false;
      }
    })
  );
}

/** Which of `budgets` (not the operator's own) select any of `pods`, by name (sorted). */
export function otherBudgetsOver(pods: readonly V1Pod[], budgets: readonly V1PodDisruptionBudget[]): string[] {
  return budgets
    .filter((b) => pods.some((p) => selects(b.spec?.selector, p.metadata?.labels ?? {})))
    .map((b) => b.metadata!.name!)
    .sort();
}

/** Another budget over the cluster's Pods: reported until a person removes or narrows it. */
export function otherBudgetsWait(
  o: { pods: readonly V1Pod[]; otherPdbs?: readonly V1PodDisruptionBudget[] },
  own: string,
): Wait | undefined {
  const names = otherBudgetsOver(o.pods, o.otherPdbs ?? []);
  if (names.length === 0) return undefined;
  const which = names.map((n) => `PodDisruptionBudget ${n}`).join(", ");
  return {
    reason: BUDGET_CONFLICT,
    message: `${which} also select${names.length === 1 ? "s" : ""} this cluster's Pods beside the operator's own ${own}: the API server refuses every eviction of a Pod that more than one budget selects, so rolls of 3 or more voters and kubectl drain wait; delete ${names.length === 1 ? "it" : "them"} or narrow the selector (spec.podDisruptionBudget sets the operator's budget)`,
    warning: true,
  };
}
