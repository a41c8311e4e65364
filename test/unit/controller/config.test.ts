// The controller's S3 settings: flags over the environment (the webhook's names, so one
// Pod-level setting reaches both), and a clear error for what cannot be read.
import { strict as assert } from "node:assert";
import { parseControllerConfig } from "../../../controller/config.js";

describe("controller S3 settings", () => {
  it("refuse everything beyond public endpoints, and lend no credentials, by default", () => {
    const c = parseControllerConfig([], {});
    assert.deepEqual(c.s3EndpointAllow, { cidrs: [], hosts: [] });
    assert.deepEqual(c.ambientCredentialsNamespaces, []);
  });

  it("take flags over the environment", () => {
    const env = { S3_ENDPOINT_ALLOW: "10.0.0.0/8", AMBIENT_CREDENTIALS_NAMESPACES: "team-a" };
    const fromEnv = parseControllerConfig([], env);
    assert.deepEqual(
      fromEnv.s3EndpointAllow.cidrs.map((r) => r.text),
      ["10.0.0.0/8"],
    );
    assert.deepEqual(fromEnv.ambientCredentialsNamespaces, ["team-a"]);
    const fromFlags = parseControllerConfig(
      ["--s3-endpoint-allow=*.s3.internal", "--ambient-credentials-namespaces=*"],
      env,
    );
    assert.deepEqual(fromFlags.s3EndpointAllow, { cidrs: [], hosts: ["*.s3.internal"] });
    assert.deepEqual(fromFlags.ambientCredentialsNamespaces, ["*"]);
  });

  it("refuse an entry that is neither a CIDR nor a host name", () => {
    assert.throws(
      () => parseControllerConfig(["--s3-endpoint-allow=127.0.0.1/99"], {}),
      /--s3-endpoint-allow: "127\.0\.0\.1\/99" is neither/,
    );
    assert.throws(() => parseControllerConfig(["--ambient-credentials-namespaces=A_B"], {}), /not a namespace name/);
  });
});

describe("controller flags: backup bounds", () => {
  it("defaults to 2 workers, 1 per namespace and a one-hour deadline", () => {
    const cfg = parseControllerConfig([], {});
    assert.equal(cfg.backupWorkers, 2);
    assert.equal(cfg.backupMaxPerNamespace, 1);
    assert.equal(cfg.backupDeadlineMs, 3_600_000);
  });

  it("takes the values given", () => {
    const cfg = parseControllerConfig(
      ["--backup-workers=6", "--backup-max-per-namespace=2", "--backup-deadline=90"],
      {},
    );
    assert.deepEqual([cfg.backupWorkers, cfg.backupMaxPerNamespace, cfg.backupDeadlineMs], [6, 2, 90_000]);
  });

  for (const bad of ["--backup-deadline=0", "--backup-deadline=soon", "--backup-max-per-namespace=0"]) {
    it(`refuses ${bad}, naming the flag`, () => {
      assert.throws(() => parseControllerConfig([bad], {}), new RegExp(`^Error: ${bad}: expected a number >= 1$`));
    });
  }
});
