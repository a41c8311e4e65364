import { strict as assert } from "node:assert";
import { formatFieldError } from "../../shared/field-errors.js";
import { RQLITED_OPERATOR_FLAGS, RQLITED_USER_FLAGS, validateExtraArgs } from "../../shared/rqlited-flags.js";

const check = (...args: unknown[]) => validateExtraArgs(args, "spec.extraArgs").map(formatFieldError);

describe("extraArgs", () => {
  it("accepts known rqlited 10.x flags in every Go flag syntax", () => {
    assert.deepEqual(
      check(
        "-raft-snap=4096",
        "--raft-log-level",
        "INFO",
        "-fk",
        "-fk=false",
        "-raft-snap-int",
        "30s",
        "-join-attempts=-1",
        "-auto-optimize-int=1h30m",
        "-write-queue-tx=T",
      ),
      [],
    );
  });

  it("rejects every flag the operator owns, with the reason", () => {
    for (const flag of [
      "node-id",
      "http-addr",
      "http-adv-addr",
      "raft-addr",
      "raft-adv-addr",
      "disco-mode",
      "disco-config",
      "bootstrap-expect",
      "join",
      "raft-non-voter",
      "auth",
      "http-cert",
      "http-key",
      "node-cert",
      "node-key",
      "node-ca-cert",
      "http-ca-cert",
    ]) {
      assert.ok(RQLITED_OPERATOR_FLAGS.includes(flag), flag);
      const [err, ...rest] = check(`-${flag}=x`);
      assert.match(err!, new RegExp(`^spec.extraArgs\\[0\\]: Forbidden: flag -${flag} is set by the operator: `));
      assert.deepEqual(rest, []);
    }
    assert.deepEqual(check("-auth", "/x.json"), [
      "spec.extraArgs[0]: Forbidden: flag -auth is set by the operator: set spec.auth.secretName instead",
    ]);
  });

  it("rejects unknown flags, positionals and bad values", () => {
    // As in Go, a value flag without `=` takes the next element, even one that looks like a flag.
    assert.deepEqual(
      check(
        "-on-disk",
        "/data",
        "--",
        "-raft-snap",
        "-raft-snap=abc",
        "-fk=maybe",
        "-raft-snap-int=10",
        "-",
        "---x",
        "-http-allow-origin",
      ),
      [
        'spec.extraArgs[0]: Invalid value: "-on-disk": unknown rqlited 10.x flag -on-disk',
        "spec.extraArgs[1]: Forbidden: positional arguments are not allowed: the operator passes the data directory; give flags as -name=value",
        "spec.extraArgs[2]: Forbidden: positional arguments are not allowed: the operator passes the data directory; give flags as -name=value",
        'spec.extraArgs[4]: Invalid value: "-raft-snap=abc": flag -raft-snap must be a non-negative integer',
        'spec.extraArgs[5]: Invalid value: "maybe": flag -fk must be true or false',
        'spec.extraArgs[6]: Invalid value: "10": flag -raft-snap-int must be a Go duration such as 500ms, 10s or 1h30m',
        "spec.extraArgs[7]: Forbidden: positional arguments are not allowed: the operator passes the data directory; give flags as -name=value",
        'spec.extraArgs[8]: Invalid value: "---x": bad flag syntax',
        'spec.extraArgs[9]: Invalid value: "-http-allow-origin": flag -http-allow-origin needs a value: use -http-allow-origin=VALUE',
      ],
    );
  });

  // I8: the voter count a cluster was bootstrapped with never changes, and extraArgs come after
  // the operator's flags, where Go's flag package would let a repeated flag win.
  it("refuses -bootstrap-expect in every Go flag syntax", () => {
    const owned =
      "Forbidden: flag -bootstrap-expect is set by the operator: the operator configures DNS discovery and bootstrapping";
    assert.deepEqual(check("-bootstrap-expect=5"), [`spec.extraArgs[0]: ${owned}`]);
    assert.deepEqual(check("--bootstrap-expect=5"), [`spec.extraArgs[0]: ${owned}`]);
    // Its value in the next element is consumed with it, not reported as a positional argument.
    assert.deepEqual(check("-fk", "-bootstrap-expect", "5"), [`spec.extraArgs[1]: ${owned}`]);
    assert.deepEqual(check("-bootstrap-expect-timeout=2m"), []);
  });

  it("never treats Object.prototype names as flags", () => {
    assert.match(check("-constructor")[0]!, /unknown rqlited 10.x flag -constructor/);
    assert.match(check("-__proto__=1")[0]!, /unknown/);
  });

  it("keeps user and operator flags apart", () => {
    assert.deepEqual(
      RQLITED_USER_FLAGS.filter((f) => RQLITED_OPERATOR_FLAGS.includes(f)),
      [],
    );
    assert.ok(
      RQLITED_USER_FLAGS.includes("raft-snap") &&
        RQLITED_USER_FLAGS.includes("raft-log-level") &&
        RQLITED_USER_FLAGS.includes("fk"),
    );
  });
});
