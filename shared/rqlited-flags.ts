// spec.extraArgs against the flags of rqlited 10.x, parsed the way Go's flag package parses
// them, so what passes here is what rqlited will accept.
import { index, type FieldError } from "./field-errors.js";

type FlagKind = "bool" | "string" | "int" | "uint" | "duration";

interface Flag {
  kind: FlagKind;
  /** Set when the operator passes this flag itself: why, and what the user should do instead. */
  ownedBecause?: string;
}

const ADDRESSES = "the operator binds and advertises each node's stable DNS name";
const DISCOVERY = "the operator configures DNS discovery and bootstrapping";
const HTTP_TLS = "set spec.tls.http.secretName instead";
const NODE_TLS = "set spec.tls.node.secretName instead";

/** Every flag of rqlited 10.x (`rqlited -h`). */
const FLAGS: Record<string, Flag> = {
  version: { kind: "bool", ownedBecause: "it prints the version and exits, so the node would never start" },
  "node-id": { kind: "string", ownedBecause: "the node id is the pod name" },
  "http-addr": { kind: "string", ownedBecause: ADDRESSES },
  "http-adv-addr": { kind: "string", ownedBecause: ADDRESSES },
  "http-allow-origin": { kind: "string" },
  "http-cert": { kind: "string", ownedBecause: HTTP_TLS },
  "http-key": { kind: "string", ownedBecause: HTTP_TLS },
  "http-ca-cert": { kind: "string", ownedBecause: HTTP_TLS },
  "http-verify-client": { kind: "bool" },
  "http-verify-common-name": { kind: "string" },
  auth: { kind: "string", ownedBecause: "set spec.auth.secretName instead" },
  "node-cert": { kind: "string", ownedBecause: NODE_TLS },
  "node-key": { kind: "string", ownedBecause: NODE_TLS },
  "node-ca-cert": { kind: "string", ownedBecause: NODE_TLS },
  "node-no-verify": { kind: "bool" },
  "node-verify-client": { kind: "bool" },
  "node-verify-server-name": { kind: "string" },
  "node-verify-common-name": { kind: "string" },
  "raft-addr": { kind: "string", ownedBecause: ADDRESSES },
  "raft-adv-addr": { kind: "string", ownedBecause: ADDRESSES },
  join: { kind: "string", ownedBecause: DISCOVERY },
  "join-attempts": { kind: "int" },
  "join-interval": { kind: "duration" },
  "join-as": { kind: "string", ownedBecause: "the operator joins nodes as its own system user" },
  "bootstrap-expect": { kind: "int", ownedBecause: DISCOVERY },
  "bootstrap-expect-timeout": { kind: "duration" },
  "raft-non-voter": { kind: "bool", ownedBecause: "set spec.readReplicas instead" },
  "cluster-connect-timeout": { kind: "duration" },
  "compress-snap-transport": { kind: "bool" },
  "disco-mode": { kind: "string", ownedBecause: DISCOVERY },
  "disco-key": { kind: "string", ownedBecause: DISCOVERY },
  "disco-config": { kind: "string", ownedBecause: DISCOVERY },
  "raft-log-level": { kind: "string" },
  "raft-snap": { kind: "uint" },
  "raft-snap-wal-size": { kind: "uint" },
  "raft-snap-int": { kind: "duration" },
  "raft-leader-lease-timeout": { kind: "duration" },
  "raft-heartbeat-timeout": { kind: "duration" },
  "raft-commit-timeout": { kind: "duration" },
  "raft-election-timeout": { kind: "duration" },
  "raft-apply-timeout": { kind: "duration" },
  "raft-remove-shutdown": { kind: "bool" },
  "raft-cluster-remove-shutdown": { kind: "bool" },
  "raft-shutdown-stepdown": { kind: "bool" },
  "raft-reap-node-timeout": { kind: "duration" },
  "raft-reap-read-only-node-timeout": { kind: "duration" },
  fk: { kind: "bool" },
  "db-max-ro-conns": { kind: "int" },
  "auto-vacuum-int": { kind: "duration" },
  "auto-optimize-int": { kind: "duration" },
  "extensions-path": { kind: "string" },
  "write-queue-capacity": { kind: "int" },
  "write-queue-batch-size": { kind: "int" },
  "write-queue-timeout": { kind: "duration" },
  "write-queue-tx": { kind: "bool" },
  "auto-backup": { kind: "string" },
  "auto-restore": { kind: "string" },
  "cdc-config": { kind: "string" },
  "otlp-endpoint": { kind: "string" },
  "otlp-metrics-interval": { kind: "duration" },
  "otlp-insecure": { kind: "bool" },
  "otlp-no-verify": { kind: "bool" },
  "otlp-ca-cert": { kind: "string" },
  "otlp-cert": { kind: "string" },
  "otlp-key": { kind: "string" },
  "cpu-profile": { kind: "string" },
  "mem-profile": { kind: "string" },
  "trace-profile": { kind: "string" },
};

const flagNames = (owned: boolean) =>
  Object.keys(FLAGS).filter((n) => (FLAGS[n]!.ownedBecause !== undefined) === owned);
export const RQLITED_USER_FLAGS: readonly string[] = flagNames(false);
export const RQLITED_OPERATOR_FLAGS: readonly string[] = flagNames(true);

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

/**
 * Validates extraArgs as one argument list. Like Go's flag package, a non-bool flag without
 * `=` consumes the next element as its value, and the first non-flag element would start the
 * positional arguments, where the operator puts the data directory.
 */
export function validateExtraArgs(args: readonly unknown[], path: string): FieldError[] {
  const errors: FieldError[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const at = index(path, i);
    if (typeof arg !== "string") continue; // the schema reports the type
    if (arg === "--" || arg === "-" || !arg.startsWith("-")) {
      errors.push({
        field: at,
        type: "Forbidden",
        message:
          "positional arguments are not allowed: the operator passes the data directory; give flags as -name=value",
      });
      continue;
    }
    const body = arg.slice(arg.startsWith("--") ? 2 : 1);
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    if (name === "" || name.startsWith("-") || name.startsWith("=")) {
      errors.push({ field: at, type: "Invalid", value: arg, message: "bad flag syntax" });
      continue;
    }
    const flag = Object.hasOwn(FLAGS, name) ? FLAGS[name] : undefined;
    if (flag === undefined) {
      errors.push({ field: at, type: "Invalid", value: arg, message: `unknown rqlited 10.x flag -${name}` });
      continue;
    }
    const { kind, ownedBecause } = flag;
    const takesNext = eq < 0 && kind !== "bool";
    if (ownedBecause !== undefined) {
      errors.push({ field: at, type: "Forbidden", message: `flag -${name} is set by the operator: ${ownedBecause}` });
      if (takesNext) i++; // its value is not a positional argument
      continue;
    }
    let value: string | undefined;
    let valueAt = at;
    if (eq >= 0) {
      value = body.slice(eq + 1);
    } else if (takesNext) {
      const next = args[i + 1];
      if (typeof next !== "string") {
        errors.push({
          field: at,
          type: "Invalid",
          value: arg,
          message: `flag -${name} needs a value: use -${name}=VALUE`,
        });
        continue;
      }
      value = next;
      valueAt = index(path, ++i);
    }
    const problem = value === undefined ? undefined : VALUE_CHECKS[kind](value);
    if (problem) errors.push({ field: valueAt, type: "Invalid", value, message: `flag -${name} ${problem}` });
  }
  return errors;
}
