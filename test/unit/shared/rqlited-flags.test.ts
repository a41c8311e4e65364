import { strict as assert } from "node:assert";
import { formatFieldError } from "../../../shared/field-errors.js";
import {
  flagTargetVersion,
  renderExtraArgs,
  RQLITED_OPERATOR_FLAGS,
  RQLITED_USER_FLAGS,
  validateExtraArgs,
} from "../../../shared/rqlited-flags.js";
import { parseRqliteVersion } from "../../../shared/rqlite-versions.js";
import { applyDefaults } from "../../../shared/index.js";
import { clusterView } from "../../../controller/rqcluster/render/cluster.js";
import { rqlitedArgs } from "../../../controller/rqcluster/render/pod.js";

const V10 = parseRqliteVersion("10.2.7")!;
const V9 = parseRqliteVersion("9.4.5")!;
const V8 = parseRqliteVersion("8.43.4")!;
const checkAt = (version: typeof V10, ...args: unknown[]) =>
  validateExtraArgs(args, "spec.extraArgs", version).errors.map(formatFieldError);
const check = (...args: unknown[]) => checkAt(V10, ...args);

describe("extraArgs", () => {
  it("accepts known rqlited flags in every Go flag syntax", () => {
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
        'spec.extraArgs[0]: Invalid value: "-on-disk": unknown rqlited flag -on-disk',
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
    assert.match(check("-constructor")[0]!, /unknown rqlited flag -constructor/);
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

  it("checks flags against the version the image runs", () => {
    // -on-disk-path went in 10.0.0; leaving it needs a backup and a new cluster (CHANGELOG v10.0.0).
    assert.deepEqual(checkAt(V9, "-on-disk-path=/dev/shm/db"), []);
    assert.deepEqual(checkAt(V10, "-on-disk-path=/dev/shm/db"), [
      'spec.extraArgs[0]: Invalid value: "-on-disk-path=/dev/shm/db": flag -on-disk-path was removed in rqlite 10.0.0; the image runs 10.2.7 (rqlite CHANGELOG v10.0.0: to leave it, back up the cluster, create a new RqCluster on 10.x without it and restore the backup into it)',
    ]);
    assert.deepEqual(checkAt(V9, "-compress-snap-transport"), [
      'spec.extraArgs[0]: Invalid value: "-compress-snap-transport": flag -compress-snap-transport needs rqlite 10.0.0 or later; the image runs 9.4.5',
    ]);
    // 8.43.4 parses -cdc-config but starts no CDC service, so it would do nothing there.
    assert.match(
      checkAt(V8, "-cdc-config=http://cdc:8080")[0]!,
      /needs rqlite 9.0.0 or later; the image runs 8.43.4: /,
    );
    assert.deepEqual(checkAt(V9, "-cdc-config=http://cdc:8080"), []);
    // A value flag's separate value is consumed with it even where the version lacks the flag.
    assert.equal(checkAt(V9, "-raft-commit-timeout", "50ms").length, 1);
  });

  it("accepts a renamed flag under either name and passes it under the version's name", () => {
    const both = ["-raft-timeout=2s", "--raft-heartbeat-timeout", "3s"];
    assert.deepEqual(checkAt(V9, ...both), []);
    assert.deepEqual(checkAt(V10, ...both), []);
    assert.deepEqual(validateExtraArgs(both, "spec.extraArgs", V10).warnings, [
      "spec.extraArgs[0]: rqlite 10.2.7 calls -raft-timeout -raft-heartbeat-timeout; the operator passes it under that name",
    ]);
    assert.deepEqual(renderExtraArgs(both, V10), ["-raft-heartbeat-timeout=2s", "--raft-heartbeat-timeout", "3s"]);
    assert.deepEqual(renderExtraArgs(both, V9), ["-raft-timeout=2s", "--raft-timeout", "3s"]);
    // A value that looks like the old flag is a value, not a flag.
    assert.deepEqual(renderExtraArgs(["-http-allow-origin", "-raft-timeout"], V10), [
      "-http-allow-origin",
      "-raft-timeout",
    ]);
    assert.deepEqual(checkAt(V10, "-raft-timeout=fast"), [
      'spec.extraArgs[0]: Invalid value: "fast": flag -raft-timeout must be a Go duration such as 500ms, 10s or 1h30m',
    ]);
  });

  it("checks an image without a version against the newest release it knows", () => {
    assert.deepEqual(flagTargetVersion("latest"), V10);
    assert.deepEqual(flagTargetVersion(undefined), V10);
    assert.deepEqual(flagTargetVersion("v9.4.5"), V9);
  });

  it("renders the Pod's arguments under the names the image's version knows", () => {
    const argsFor = (image: string) => {
      const c = clusterView(
        applyDefaults({
          apiVersion: "rqlite.io/v1alpha1",
          kind: "RqCluster",
          metadata: { name: "db", namespace: "ns", uid: "u" },
          spec: { image, extraArgs: ["-raft-timeout=2s", "-fk"] },
        }),
      );
      const member = { name: "db-0", ordinal: 0, role: "voter" as const };
      return rqlitedArgs(c, {
        member,
        bootstrapExpect: 3,
        addressing: { kind: "dns", clusterDomain: "cluster.local" },
      });
    };
    assert.deepEqual(argsFor("rqlite/rqlite:10.2.7").slice(-3), [
      "-raft-heartbeat-timeout=2s",
      "-fk",
      "/rqlite/file/data",
    ]);
    assert.deepEqual(argsFor("rqlite/rqlite:9.4.5").slice(-3), ["-raft-timeout=2s", "-fk", "/rqlite/file/data"]);
  });
});
