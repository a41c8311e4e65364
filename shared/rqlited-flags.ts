// spec.extraArgs against the flags of the rqlited version the image runs (shared/rqlite-versions.ts),
// parsed the way Go's flag package parses them, so what passes here is what rqlited will accept.
import { index, type FieldError } from "./field-errors.js";
import {
  ALL_RQLITED_FLAGS,
  flagKind,
  flagVerdict,
  formatVersion,
  NEWEST_KNOWN_RQLITE,
  parseRqliteVersion,
  type FlagKind,
  type RqliteVersion,
} from "./rqlite-versions.js";

const ADDRESSES = "the operator binds and advertises each node's stable DNS name";
const DISCOVERY = "the operator configures DNS discovery and bootstrapping";
const HTTP_TLS = "set spec.tls.http.secretName instead";
const NODE_TLS = "set spec.tls.node.secretName instead";

/** The flags the operator passes itself: why, and what the user should do instead. */
const OWNED: Record<string, string> = {
  version: "it prints the version and exits, so the node would never start",
  "node-id": "the node id is the pod name",
  "http-addr": ADDRESSES,
  "http-adv-addr": ADDRESSES,
  "http-cert": HTTP_TLS,
  "http-key": HTTP_TLS,
  "http-ca-cert": HTTP_TLS,
  auth: "set spec.auth.secretName instead",
  "node-cert": NODE_TLS,
  "node-key": NODE_TLS,
  "node-ca-cert": NODE_TLS,
  "node-verify-client": NODE_TLS,
  "raft-addr": ADDRESSES,
  "raft-adv-addr": ADDRESSES,
  join: DISCOVERY,
  "join-as": "the operator joins nodes as its own system user",
  "bootstrap-expect": DISCOVERY,
  "raft-non-voter": "set spec.readReplicas instead",
  "disco-mode": DISCOVERY,
  "disco-key": DISCOVERY,
  "disco-config": DISCOVERY,
  "auto-backup": "set spec.backup instead",
  "auto-restore": "set spec.restore instead (at creation)",
};

export const RQLITED_USER_FLAGS: readonly string[] = ALL_RQLITED_FLAGS.filter((n) => !Object.hasOwn(OWNED, n));
export const RQLITED_OPERATOR_FLAGS: readonly string[] = Object.keys(OWNED);

const GO_BOOL = new Set(["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"]);
const DURATION_UNIT = "(?:ns|us|µs|ms|s|m|h)";
const DURATION_NUMBER = "(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)";
const GO_DURATION = new RegExp(`^[-+]?(?:0|(?:${DURATION_NUMBER}${DURATION_UNIT})+)$`);

const VALUE_CHECKS: Record<FlagKind, (v: string) => string | undefined> = {
  bool: (v) => (GO_BOOL.has(v) ? undefined : "must be true or false"),
  string: () => undefined,
  int: (v) => (/^[-+]?[0-9]+$/.test(v) ? undefined : "must be an integer"),
  uint: (v) => (/^[0-9]+$/.test(v) ? undefined : "must be a non-negative integer"),
  duration: (v) => (GO_DURATION.test(v) ? undefined : "must be a Go duration such as 500ms, 10s or 1h30m"),
};

/** One flag of an argument list, where Go's flag package would find it. */
interface ParsedFlag {
  /** Index of the flag's own element. */
  at: number;
  name: string;
  /** The dashes it was written with ("-" or "--"). */
  dashes: string;
  /** `=value` in the same element, or the next element for a value flag written without `=`. */
  value?: { text: string; at: number };
}

type Walked = { flag: ParsedFlag } | { positional: number } | { badSyntax: number } | { missingValue: ParsedFlag };

/**
 * Walks `args` as Go's flag package would: a non-bool flag without `=` consumes the next
 * element as its value, and the first non-flag element starts the positional arguments. Flags
 * of no known kind take their value after `=` only.
 */
function* walk(args: readonly unknown[], kindOf: (name: string) => FlagKind | undefined): Generator<Walked> {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (typeof arg !== "string") continue; // the schema reports the type
    if (arg === "--" || arg === "-" || !arg.startsWith("-")) {
      yield { positional: i };
      continue;
    }
    const dashes = arg.startsWith("--") ? "--" : "-";
    const body = arg.slice(dashes.length);
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    if (name === "" || name.startsWith("-") || name.startsWith("=")) {
      yield { badSyntax: i };
      continue;
    }
    const flag: ParsedFlag = { at: i, name, dashes };
    const kind = kindOf(name);
    if (eq >= 0) flag.value = { text: body.slice(eq + 1), at: i };
    else if (kind !== undefined && kind !== "bool") {
      const next = args[i + 1];
      if (typeof next !== "string") {
        yield { missingValue: flag };
        continue;
      }
      flag.value = { text: next, at: ++i };
    }
    yield { flag };
  }
}

/** The version extraArgs are checked against: the image's, or the newest known when it names none. */
export function flagTargetVersion(imageTag: string | undefined): RqliteVersion {
  return parseRqliteVersion(imageTag) ?? parseRqliteVersion(NEWEST_KNOWN_RQLITE)!;
}

const POSITIONAL =
  "positional arguments are not allowed: the operator passes the data directory; give flags as -name=value";

/**
 * Validates extraArgs as one argument list for rqlited `version` (see flagTargetVersion): flags
 * the operator owns, flags this version does not have (unknown, not yet added, removed), and
 * values of the wrong kind. A flag renamed between versions is accepted under either name and
 * passed under the version's (renderExtraArgs), with a warning saying so.
 */
export function validateExtraArgs(
  args: readonly unknown[],
  path: string,
  version: RqliteVersion,
): { errors: FieldError[]; warnings: string[] } {
  const errors: FieldError[] = [];
  const warnings: string[] = [];
  for (const item of walk(args, flagKind)) {
    if ("positional" in item) {
      errors.push({ field: index(path, item.positional), type: "Forbidden", message: POSITIONAL });
      continue;
    }
    if ("badSyntax" in item) {
      errors.push({
        field: index(path, item.badSyntax),
        type: "Invalid",
        value: args[item.badSyntax],
        message: "bad flag syntax",
      });
      continue;
    }
    const flag = "flag" in item ? item.flag : item.missingValue;
    const at = index(path, flag.at);
    const { name } = flag;
    if (Object.hasOwn(OWNED, name)) {
      errors.push({ field: at, type: "Forbidden", message: `flag -${name} is set by the operator: ${OWNED[name]!}` });
      continue;
    }
    const verdict = flagVerdict(name, version);
    if (!verdict.ok) {
      errors.push({ field: at, type: "Invalid", value: args[flag.at], message: verdict.message });
      continue;
    }
    if ("missingValue" in item) {
      errors.push({
        field: at,
        type: "Invalid",
        value: args[flag.at],
        message: `flag -${name} needs a value: use -${name}=VALUE`,
      });
      continue;
    }
    if (verdict.renderedAs !== name) {
      warnings.push(
        `${at}: rqlite ${formatVersion(version)} calls -${name} -${verdict.renderedAs}; the operator passes it under that name`,
      );
    }
    const problem = flag.value && VALUE_CHECKS[verdict.kind](flag.value.text);
    if (problem) {
      errors.push({
        field: index(path, flag.value!.at),
        type: "Invalid",
        value: flag.value!.text,
        message: `flag -${name} ${problem}`,
      });
    }
  }
  return { errors, warnings };
}

/** extraArgs as rqlited `version` takes them: each renamed flag under this version's name. */
export function renderExtraArgs(args: readonly string[], version: RqliteVersion): string[] {
  const out = [...args];
  for (const item of walk(args, flagKind)) {
    if (!("flag" in item)) continue;
    const { flag } = item;
    const verdict = flagVerdict(flag.name, version);
    if (!verdict.ok || verdict.renderedAs === flag.name) continue;
    const rest = args[flag.at]!.slice(flag.dashes.length + flag.name.length);
    out[flag.at] = `${flag.dashes}${verdict.renderedAs}${rest}`;
  }
  return out;
}
