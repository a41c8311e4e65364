// What each rqlite version supports, in one table: its rqlited flags, the HTTP API features the
// operator relies on, and rqlite's own upgrade, downgrade and join rules. The webhook validates
// against it, the renderer renders flags from it and the controller picks its calls by it.
// Every fact names where it comes from (rqlite's CHANGELOG.md or source at a release tag), so a
// new release is a reviewable edit here; test/unit/shared/rqlite-versions.test.ts checks the flag
// history against flags captured from rqlite's source at every release tag.

/** A release as `major.minor.patch`. */
export interface RqliteVersion {
  major: number;
  minor: number;
  patch: number;
}

/** The versions the end-to-end suite runs (hack/tools/rqlited*); a test keeps this list honest. */
export const TESTED_RQLITE_VERSIONS: readonly string[] = ["8.43.4", "8.36.0"];
/** The newest release whose flags the table knows; later or unknown versions are checked as this one. */
export const NEWEST_KNOWN_RQLITE = "10.2.7";

/** Parses a tag such as `8.43.4`, `v9.1`, `10.2.0-alpine`; undefined when it names no version. */
export function parseRqliteVersion(tag: string | undefined): RqliteVersion | undefined {
  const m = tag === undefined ? null : /^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$/.exec(tag);
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) } : undefined;
}

export function compareVersions(a: RqliteVersion, b: RqliteVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

const v = (text: string): RqliteVersion => parseRqliteVersion(text)!;
const atLeast = (version: RqliteVersion, since: string) => compareVersions(version, v(since)) >= 0;
export const formatVersion = (x: RqliteVersion) => `${x.major}.${x.minor}.${x.patch}`;

export function isTestedVersion(version: RqliteVersion): boolean {
  return TESTED_RQLITE_VERSIONS.some((t) => compareVersions(v(t), version) === 0);
}

export function isSupportedVersion(version: RqliteVersion): boolean {
  return atLeast(version, MIN_SUPPORTED_RQLITE);
}

// ---- flags ------------------------------------------------------------------------------------

export type FlagKind = "bool" | "string" | "int" | "uint" | "duration";

interface FlagHistory {
  kind: FlagKind;
  /** First release with the flag; absent: every supported release. */
  since?: string;
  /** First release without it. */
  removedIn?: string;
  /** The flag's name from `removedIn` on, when it was renamed rather than dropped. */
  renamedTo?: string;
  /** What the user should know when the flag is refused. */
  why?: string;
}

const V10_NOTES = "rqlite CHANGELOG v10.0.0";

/**
 * Every rqlited flag from 8.21.0 to 10.2.7, from cmd/rqlited/flags.go and flags.toml at each
 * release tag (test/fixtures/rqlite/flags-by-release.json). The OTLP flags on rqlite's main
 * branch are in no release yet, so they are not here.
 */
const FLAG_HISTORY: Record<string, FlagHistory> = {
  version: { kind: "bool" },
  "node-id": { kind: "string" },
  "http-addr": { kind: "string" },
  "http-adv-addr": { kind: "string" },
  "http-allow-origin": { kind: "string" },
  "http-cert": { kind: "string" },
  "http-key": { kind: "string" },
  "http-ca-cert": { kind: "string" },
  "http-verify-client": { kind: "bool" },
  "http-verify-common-name": { kind: "string", since: "10.2.0" },
  auth: { kind: "string" },
  "node-cert": { kind: "string" },
  "node-key": { kind: "string" },
  "node-ca-cert": { kind: "string" },
  "node-no-verify": { kind: "bool" },
  "node-verify-client": { kind: "bool" },
  "node-verify-server-name": { kind: "string" },
  "node-verify-common-name": { kind: "string", since: "10.2.0" },
  "raft-addr": { kind: "string" },
  "raft-adv-addr": { kind: "string" },
  join: { kind: "string" },
  "join-attempts": { kind: "int" },
  "join-interval": { kind: "duration" },
  "join-as": { kind: "string" },
  "bootstrap-expect": { kind: "int" },
  "bootstrap-expect-timeout": { kind: "duration" },
  "raft-non-voter": { kind: "bool" },
  "cluster-connect-timeout": { kind: "duration" },
  "compress-snap-transport": { kind: "bool", since: "10.0.0" },
  "disco-mode": { kind: "string" },
  "disco-key": { kind: "string" },
  "disco-config": { kind: "string" },
  "on-disk-path": {
    kind: "string",
    removedIn: "10.0.0",
    why: `${V10_NOTES}: to leave it, back up the cluster, create a new RqCluster on 10.x without it and restore the backup into it`,
  },
  "raft-log-level": { kind: "string" },
  "raft-snap": { kind: "uint" },
  "raft-snap-wal-size": { kind: "uint" },
  "raft-snap-int": { kind: "duration" },
  "raft-leader-lease-timeout": { kind: "duration" },
  "raft-timeout": { kind: "duration", removedIn: "10.0.0", renamedTo: "raft-heartbeat-timeout" },
  "raft-heartbeat-timeout": { kind: "duration", since: "10.0.0" },
  "raft-commit-timeout": { kind: "duration", since: "10.0.0" },
  "raft-election-timeout": { kind: "duration" },
  "raft-apply-timeout": { kind: "duration" },
  "raft-remove-shutdown": { kind: "bool" },
  "raft-cluster-remove-shutdown": { kind: "bool" },
  "raft-shutdown-stepdown": { kind: "bool" },
  "raft-reap-node-timeout": { kind: "duration" },
  "raft-reap-read-only-node-timeout": { kind: "duration" },
  fk: { kind: "bool" },
  "db-max-ro-conns": { kind: "int", since: "10.0.3" },
  "auto-vacuum-int": { kind: "duration" },
  "auto-optimize-int": { kind: "duration", since: "8.30.0" },
  "extensions-path": { kind: "string", since: "8.27.0" },
  "write-queue-capacity": { kind: "int" },
  "write-queue-batch-size": { kind: "int" },
  "write-queue-timeout": { kind: "duration" },
  "write-queue-tx": { kind: "bool" },
  "auto-backup": { kind: "string" },
  "auto-restore": { kind: "string" },
  // 8.43.4 parses it but starts no CDC service; 9.0.0 wires it up (cmd/rqlited/main.go).
  "cdc-config": {
    kind: "string",
    since: "9.0.0",
    why: "rqlite 8.43.x parses it but ignores it; Change Data Capture arrived in 9.0.0 (rqlite CHANGELOG v9.0.0)",
  },
  "cpu-profile": { kind: "string" },
  "mem-profile": { kind: "string" },
  "trace-profile": { kind: "string", since: "8.24.9" },
};

const hasFlag = (h: FlagHistory, version: RqliteVersion) =>
  (h.since === undefined || atLeast(version, h.since)) && (h.removedIn === undefined || !atLeast(version, h.removedIn));

/** The flags rqlited `version` accepts, with their kinds. */
export function flagsOf(version: RqliteVersion): Map<string, FlagKind> {
  return new Map(
    Object.entries(FLAG_HISTORY)
      .filter(([, h]) => hasFlag(h, version))
      .map(([name, h]) => [name, h.kind]),
  );
}

/** A flag's kind in the releases that have it; undefined for no rqlited flag. */
export function flagKind(name: string): FlagKind | undefined {
  return Object.hasOwn(FLAG_HISTORY, name) ? FLAG_HISTORY[name]!.kind : undefined;
}

/** Every flag some supported release accepts. */
export const ALL_RQLITED_FLAGS: readonly string[] = Object.keys(FLAG_HISTORY);

/** The name a renamed flag has in `version` (both names mean one setting); otherwise `name`. */
export function flagNameFor(name: string, version: RqliteVersion): string {
  const h = Object.hasOwn(FLAG_HISTORY, name) ? FLAG_HISTORY[name]! : undefined;
  if (h?.renamedTo && h.removedIn && atLeast(version, h.removedIn)) return h.renamedTo;
  const older = Object.entries(FLAG_HISTORY).find(([, o]) => o.renamedTo === name);
  if (older && older[1].removedIn && !atLeast(version, older[1].removedIn)) return older[0];
  return name;
}

export type FlagVerdict =
  | { ok: true; kind: FlagKind; renderedAs: string }
  | { ok: false; reason: "unknown" | "not-yet" | "removed"; message: string };

/** Whether rqlited `version` takes `-name`, and under which name the operator passes it. */
export function flagVerdict(name: string, version: RqliteVersion): FlagVerdict {
  const label = formatVersion(version);
  const h = Object.hasOwn(FLAG_HISTORY, name) ? FLAG_HISTORY[name]! : undefined;
  if (!h) return { ok: false, reason: "unknown", message: `unknown rqlited flag -${name}` };
  const renderedAs = flagNameFor(name, version);
  if (renderedAs !== name) return { ok: true, kind: h.kind, renderedAs };
  if (h.since !== undefined && !atLeast(version, h.since)) {
    const why = h.why ? `: ${h.why}` : "";
    return {
      ok: false,
      reason: "not-yet",
      message: `flag -${name} needs rqlite ${h.since} or later; the image runs ${label}${why}`,
    };
  }
  if (h.removedIn !== undefined && atLeast(version, h.removedIn)) {
    const why = h.why ? ` (${h.why})` : "";
    return {
      ok: false,
      reason: "removed",
      message: `flag -${name} was removed in rqlite ${h.removedIn}; the image runs ${label}${why}`,
    };
  }
  return { ok: true, kind: h.kind, renderedAs };
}

// ---- HTTP API features --------------------------------------------------------------------------

interface Feature {
  since: string;
  what: string;
  source: string;
}

export const RQLITE_FEATURES = {
  nodesV2: { since: "8.0.0", what: "GET /nodes?ver=2 (nodes as a list)", source: "CHANGELOG v8.0.0, PR #1433" },
  readyzSync: {
    since: "8.21.0",
    what: "GET /readyz?sync waits until the node applied the leader's commit index",
    source: "CHANGELOG v8.21.0, PR #1689",
  },
  nodesVersion: {
    since: "8.36.3",
    what: "/nodes reports each node's version",
    source: "rqlite issue #2001, PR #2006",
  },
  leaderStepdown: {
    since: "8.40.0",
    what: "POST /leader makes the leader step down",
    source: "CHANGELOG v8.40.0, PR #2154",
  },
  leadershipTransfer: {
    since: "8.41.0",
    what: "POST /leader with a target node id",
    source: "CHANGELOG v8.41.0, PR #2172",
  },
  cdc: { since: "9.0.0", what: "Change Data Capture (-cdc-config)", source: "CHANGELOG v9.0.0, PR #2275" },
  licenses: {
    since: "9.2.2",
    what: "GET /licenses lists the licences of everything bundled",
    source: "CHANGELOG v9.2.2, PR #2382",
  },
} satisfies Record<string, Feature>;

export type RqliteFeature = keyof typeof RQLITE_FEATURES;

/** Below this the operator cannot wait for a node to catch up between roll steps. */
export const MIN_SUPPORTED_RQLITE = RQLITE_FEATURES.readyzSync.since;

export function supports(version: RqliteVersion | undefined, feature: RqliteFeature): boolean {
  return version !== undefined && atLeast(version, RQLITE_FEATURES[feature].since);
}

/**
 * rqlite's own Docker images from 9.2.2 on bundle the sqliteai/sqlite-vector extension, under
 * the Elastic License 2.0 with an extra grant for open-source projects: not an OSI licence
 * (CHANGELOG v9.2.2; http/licenses/licenses.txt, served at /licenses).
 */
export function bundlesNonOpenSourceExtension(repository: string, version: RqliteVersion): boolean {
  const official = ["rqlite/rqlite", "docker.io/rqlite/rqlite", "ghcr.io/rqlite/rqlite"];
  return official.includes(repository) && atLeast(version, "9.2.2");
}

// ---- upgrade, downgrade and join rules ----------------------------------------------------------

/**
 * Major downgrades rqlite supports in place: "You can also downgrade back to an 8.x release if
 * needed" (CHANGELOG v9.0.0). From 10 there is none: "back up your v10 system and use that
 * backup to deploy a new pre-v10 system" (CHANGELOG v10.0.0).
 */
const IN_PLACE_DOWNGRADES: ReadonlyMap<number, number> = new Map([[9, 8]]);

/**
 * Why rqlite cannot move a running cluster from `from` to `to` by restarting its nodes one at
 * a time, or undefined when it can. A downgrade within a major is allowed, as rqlite's releases
 * within one major read each other's data. More than one major up is refused by the API
 * contract (docs/api.md) although rqlite 10 accepts 8.x data: each major is rolled and checked on
 * its own.
 */
export function versionChangeProblem(from: RqliteVersion, to: RqliteVersion): string | undefined {
  if (to.major < from.major) {
    if (IN_PLACE_DOWNGRADES.get(from.major) === to.major && to.major === from.major - 1) return undefined;
    return `rqlite does not support downgrading from major version ${from.major} to ${to.major} in place; back up the cluster, create a new RqCluster on ${to.major}.x and restore the backup into it (rqlite CHANGELOG v10.0.0)`;
  }
  if (to.major > from.major + 1) return `upgrade to major version ${from.major + 1} first, one major version at a time`;
  return undefined;
}

/**
 * "You cannot join a new v10 node to a v9 (or earlier) cluster" (CHANGELOG v10.0.0), as 8.x
 * could not join 7.x (CHANGELOG v8.0.0): a node of a barrier major joins only a cluster whose
 * members all run that major or later.
 */
const JOIN_BARRIERS: readonly number[] = [8, 10];

/** Why a new node on `joiner` cannot join members running `members`, or undefined. */
export function joinProblem(joiner: RqliteVersion, members: readonly RqliteVersion[]): string | undefined {
  const barrier = JOIN_BARRIERS.filter((b) => joiner.major >= b).at(-1);
  if (barrier === undefined) return undefined;
  const older = members.find((m) => m.major < barrier);
  if (!older) return undefined;
  return `a new rqlite ${formatVersion(joiner)} node cannot join a cluster with members on ${formatVersion(older)} (rqlite ${barrier}.x nodes join only clusters already on ${barrier}.x)`;
}
