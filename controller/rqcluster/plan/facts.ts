// Facts every part of the plan derives from the same observation: which nodes are desired, how
// their Pods should look, which Pods are outdated, who is unavailable. Computed once per plan.
import type { V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import { parseImageReference } from "../../../shared/image.js";
import { LABEL_ROLE, RQLITE_CONTAINER, parseMemberName } from "../../../shared/names.js";
import { parseRqliteVersion, versionChangeProblem, type RqliteVersion } from "../../../shared/rqlite-versions.js";
import type { ClusterView } from "../render/cluster.js";
import { desiredMembers, type DesiredNode } from "../render/members.js";
import { BOOTSTRAP_EXPECT_ANNOTATION, renderPod, SPEC_HASH_ANNOTATION } from "../render/pod.js";
import { restorePending } from "../backup/plan.js";
import { isPodReady } from "../../access/clusterView.js";
import { planAuth, type AuthPlan } from "./auth.js";
import type { Observed, RaftMember } from "./types.js";

export const podName = (pod: V1Pod): string => pod.metadata!.name!;
export const isTerminating = (pod: V1Pod): boolean => Boolean(pod.metadata?.deletionTimestamp);

export interface Facts {
  desired: DesiredNode[];
  desiredNames: ReadonlySet<string>;
  /** The cluster Pods are rendered from: spec.image replaced while it is refused (podImage). */
  podView: ClusterView;
  /** Desired Pod per node name, rendered from podView. */
  rendered: ReadonlyMap<string, V1Pod>;
  /** `-bootstrap-expect` of the cluster's first Pods; never changes after creation. */
  bootstrapExpect: number;
  pods: ReadonlyMap<string, V1Pod>;
  /** Desired Pods that exist and run an older spec. */
  outdated: V1Pod[];
  /** The leader's view of the Raft voters, or the voter Pods when no leader answered. */
  raftVoters: RaftMember[] | undefined;
  /** spec.restore is still to be loaded by the founding voters' new Pods (../backup/plan.ts). */
  restorePending: boolean;
  /** The -auth users file the Pods and the operator's Secret follow. */
  auth: AuthPlan;
}

/** From the Pods, or the PVCs when every Pod is gone: fixed at the cluster's creation (I8). */
export function bootstrapExpectOf(
  pods: readonly V1Pod[],
  pvcs: readonly V1PersistentVolumeClaim[],
  replicas: number,
): number {
  return (
    [...pods, ...pvcs]
      .map((x) => Number(x.metadata?.annotations?.[BOOTSTRAP_EXPECT_ANNOTATION]))
      .find((v) => Number.isInteger(v) && v > 0) ?? replicas
  );
}

/** Facts depend on nothing in an observation that changes after it is made (not `synced`). */
const memo = new WeakMap<Observed, Facts>();

/** Rendering every desired Pod is most of a plan's cost: observe, plan and status share one. */
export function deriveFacts(o: Observed): Facts {
  let f = memo.get(o);
  if (!f) memo.set(o, (f = computeFacts(o)));
  return f;
}

/** What the plan's Needs read. */
export type Readings = Pick<Observed, "synced" | "restoreCounts" | "restoreLeaderData" | "retentionListing">;

/** `o` with readings the plan asked for (see Need): the same facts, which depend on none of them. */
export function withReadings(o: Observed, readings: Readings): Observed {
  const next = { ...o, ...readings };
  const f = memo.get(o);
  if (f) memo.set(next, f);
  return next;
}

function computeFacts(o: Observed): Facts {
  const c = o.cluster;
  const pods = new Map(o.pods.map((p) => [podName(p), p]));
  const bootstrapExpect = bootstrapExpectOf(o.pods, o.pvcs, c.spec.replicas);
  const desired = desiredMembers(c.name, c.spec.replicas, c.spec.readReplicas);
  const pending = restorePending(c, o.restoreDone === true, o.pvcs, bootstrapExpect);
  const auth = planAuth(c, o.auth);
  // While spec.image is refused, Pods are rendered with an image the cluster runs (podImage).
  const image = podImage(o);
  const view = image === c.spec.image ? c : { ...c, spec: { ...c.spec, image } };
  const rendered = new Map(
    desired.map((m) => [
      m.name,
      renderPod(view, {
        member: m,
        bootstrapExpect,
        template: o.template,
        addressing: o.addressing,
        authHash: auth.hash,
        restorePending: pending,
      }),
    ]),
  );
  const hashOf = (p: V1Pod | undefined) => p?.metadata?.annotations?.[SPEC_HASH_ANNOTATION];
  const outdated = o.pods.filter((p) => rendered.has(podName(p)) && hashOf(p) !== hashOf(rendered.get(podName(p))));
  return {
    desired,
    desiredNames: new Set(desired.map((m) => m.name)),
    podView: view,
    rendered,
    bootstrapExpect,
    pods,
    outdated,
    raftVoters: o.raft?.members.filter((m) => m.voter),
    restorePending: pending,
    auth,
  };
}

export const roleOf = (pod: V1Pod): string | undefined => pod.metadata?.labels?.[LABEL_ROLE];
export const ordinalOf = (o: Observed, name: string): number => parseMemberName(o.cluster.name, name)?.ordinal ?? -1;

/** Quorum of a Raft configuration with `voters` voters. */
export const quorum = (voters: number): number => Math.floor(voters / 2) + 1;

/**
 * Voters that count for quorum and are unavailable now: members of the Raft configuration (or
 * voter Pods, when no leader answered) whose Pod is missing, terminating or not Ready, or that
 * the leader cannot reach. A desired voter that has not been created yet is not a member, so it
 * does not count here; the gate below waits for it separately.
 */
function unavailableVoters(o: Observed, f: Facts): string[] {
  const members =
    f.raftVoters ?? o.pods.filter((p) => roleOf(p) === "voter").map((p) => ({ id: podName(p), reachable: true }));
  return members
    .filter((m) => {
      const pod = f.pods.get(m.id);
      return !pod || !isPodReady(pod) || !m.reachable;
    })
    .map((m) => m.id);
}

/**
 * The gate of every disruptive step (I1): every desired Pod other than `except` exists, is
 * Ready, is not terminating and has caught up (`/readyz?sync`); no Pod is terminating; and no
 * voter other than `except` is unavailable. Returns why not, or undefined when it holds.
 */
export function settledExcept(o: Observed, f: Facts, except?: string | ReadonlySet<string>): string | undefined {
  const skip = (n: string) => (typeof except === "string" ? n === except : (except?.has(n) ?? false));
  const terminating = o.pods.find((p) => isTerminating(p) && !skip(podName(p)));
  if (terminating) return `Pod ${podName(terminating)} is still terminating`;
  for (const m of f.desired) {
    if (skip(m.name)) continue;
    const pod = f.pods.get(m.name);
    if (!pod) return `Pod ${m.name} does not exist yet`;
    if (!isPodReady(pod)) return `Pod ${m.name} is not Ready`;
    if (!o.synced?.has(m.name)) return `${m.name} has not caught up with the leader (/readyz?sync)`;
  }
  const down = unavailableVoters(o, f).filter((n) => !skip(n));
  if (down.length > 0) return `voter ${down.join(", ")} is unavailable`;
  return undefined;
}

/** True while a disruptive step may be due: only then does the plan ask nodes for /readyz?sync. */
export function needsDisruption(o: Observed, f: Facts): boolean {
  if (f.outdated.length > 0) return true;
  if (o.pods.some((p) => !f.desiredNames.has(podName(p)))) return true;
  if (o.raft?.members.some((m) => !f.desiredNames.has(m.id))) return true;
  return o.pods.some((p) => p.spec?.nodeName && o.unreachableSince.has(p.spec.nodeName));
}

export const versionOfImage = (image: string | undefined): RqliteVersion | undefined =>
  parseRqliteVersion(image === undefined ? undefined : parseImageReference(image)?.tag);

const rqliteImage = (p: V1Pod) => p.spec?.containers.find((c) => c.name === RQLITE_CONTAINER)?.image;

/** The rqlite version each Pod that is not going runs, where its image tag tells it. */
export function runningVersions(o: Observed): Array<{ pod: string; version: RqliteVersion }> {
  return o.pods.flatMap((p) => {
    const v = versionOfImage(rqliteImage(p));
    return v && !isTerminating(p) ? [{ pod: podName(p), version: v }] : [];
  });
}

/**
 * The images the cluster runs, each with how many of its Pods run it and how many of those are
 * Ready; with no Pod running, the images status recorded last (their data is on the volumes).
 */
function imagesRun(o: Observed): Array<{ image: string; pods: number; ready: number; where: string }> {
  const live = o.pods.filter((p) => !isTerminating(p));
  if (live.length === 0)
    return (o.lastImages ?? []).map((image) => ({ image, pods: 0, ready: 0, where: "status.images (no Pod runs)" }));
  const byImage = new Map<string, { image: string; pods: number; ready: number; where: string }>();
  for (const p of live) {
    const image = rqliteImage(p);
    if (!image) continue;
    const e = byImage.get(image) ?? { image, pods: 0, ready: 0, where: `Pod ${podName(p)}` };
    e.pods++;
    if (isPodReady(p)) e.ready++;
    byImage.set(image, e);
  }
  return [...byImage.values()];
}

/**
 * Why spec.image is a version step rqlite does not take from a version the cluster runs (a major
 * skipped, a downgrade it cannot do), judged against every running Pod, not the spec a roll
 * started from; with no Pod running, against the images status recorded last.
 */
export function refusedStep(o: Observed): { where: string; version: RqliteVersion; problem: string } | undefined {
  const target = versionOfImage(o.cluster.spec.image);
  if (!target) return undefined;
  for (const { image, where } of imagesRun(o)) {
    const version = versionOfImage(image);
    const problem = version && versionChangeProblem(version, target);
    if (problem) return { where, version, problem };
  }
  return undefined;
}

/**
 * The image Pods are made with: spec.image, unless it is a refused step (refusedStep); then one
 * the cluster runs, so that a Pod re-created meanwhile (a drain, a lost node) never puts a
 * refused version beside the others. Of those, one every running version can step to, run by
 * the most Ready Pods (a broken image some Pods crash on is no choice), then by the most Pods,
 * then the newest (the way an accepted roll was going).
 */
export function podImage(o: Observed): string {
  const spec = o.cluster.spec.image;
  if (!refusedStep(o)) return spec;
  const run = imagesRun(o);
  const versions = run.flatMap(({ image }) => versionOfImage(image) ?? []);
  const fits = (image: string) => {
    const to = versionOfImage(image);
    return to !== undefined && versions.every((from) => !versionChangeProblem(from, to));
  };
  const newer = (a: string, b: string) => {
    const [va, vb] = [versionOfImage(a), versionOfImage(b)];
    return (
      (vb?.major ?? 0) - (va?.major ?? 0) || (vb?.minor ?? 0) - (va?.minor ?? 0) || (vb?.patch ?? 0) - (va?.patch ?? 0)
    );
  };
  const ranked = [...run].sort(
    (a, b) =>
      b.ready - a.ready ||
      b.pods - a.pods ||
      newer(a.image, b.image) ||
      (a.image < b.image ? -1 : a.image > b.image ? 1 : 0),
  );
  return (ranked.find((r) => fits(r.image)) ?? ranked[0])?.image ?? spec;
}
