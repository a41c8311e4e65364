// Hibernation (spec.hibernate): every Pod goes, every volume stays. Waking needs nothing of its
// own: with no Pod and no leader, scale.ts recreates every member the last status recorded at
// once (Observed.lastMembers), on its own PVC, so the same Raft configuration elects a leader
// from the same logs. What changed meanwhile (image, template, scale) applies on waking, by the
// rules that apply to any cluster whose Pods are all gone.
import { isTerminating, podName, roleOf } from "./facts.js";
import type { Action, Observed } from "./types.js";

export const HIBERNATING = "Hibernating";

/**
 * The Pods to delete while spec.hibernate is true: all of them at once, by a plain delete. The
 * disruption budget guards availability, which the owner gave up by asking; an eviction would
 * be refused for the second voter for good (1 of 3 allowed), and a cluster stopped one voter at
 * a time would lose quorum halfway anyway. rqlited stops gracefully on SIGTERM and keeps its
 * Raft log and snapshots on the PVC; no Raft configuration change is made, so the members that
 * come back are the members that went.
 */
export function planHibernation(o: Observed): Action[] {
  return o.pods
    .filter((p) => !isTerminating(p))
    .map((p) => ({
      type: "deletePod" as const,
      name: podName(p),
      reason: HIBERNATING,
      message: `deleted Pod ${podName(p)} (spec.hibernate is true); its PVC and ${roleOf(p) === "read-only" ? "read replica" : "Raft"} state stay for waking`,
    }));
}

/** True while the hibernation is done: no Pod is left, terminating or not. */
export const isHibernated = (o: Pick<Observed, "cluster" | "pods">): boolean =>
  o.cluster.spec.hibernate === true && o.pods.length === 0;
