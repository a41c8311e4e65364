// What `kubectl rqlite report` blanks by name, and what it scrubs by value (cli/redact.ts).
import { strict as assert } from "node:assert";
import { isCredentialName, REDACTED, redactFields, redactSecret, scrub, secretValues } from "../../../cli/redact.js";

describe("report redaction", () => {
  it("knows credential names by their last words, in every spelling", () => {
    for (const name of [
      "AWS_SECRET_ACCESS_KEY",
      "AWS_ACCESS_KEY_ID",
      "AWS_SESSION_TOKEN",
      "MINIO_SECRET_KEY",
      "MINIO_ACCESS_KEY",
      "RQLITE_BACKUP_ACCESS_KEY_ID",
      "RQLITE_BACKUP_SECRET_ACCESS_KEY",
      "secret_access_key",
      "access_key_id",
      "secretAccessKey",
      "accessKeyId",
      "DB_PASSWORD",
      "password",
      "api-key",
      "apiKey",
      "GITHUB_TOKEN",
      "client.secret",
      "tls.private_key",
      "credentials",
    ])
      assert.ok(isCredentialName(name), name);
    for (const name of [
      "accessKeyIdKey",
      "secretAccessKeyKey",
      "secretName",
      "bypass",
      "KEY",
      "tls.key",
      "name",
      "tokenizer",
    ])
      assert.ok(!isCredentialName(name), name);
    assert.ok(isCredentialName("S3_USER", new Set(["S3_USER"])), "a key a credentialsSecret ref names");
  });

  it("blanks credential fields and literal credential env values, keeps the names of keys", () => {
    const pod = {
      spec: {
        containers: [
          {
            env: [
              { name: "AWS_SECRET_ACCESS_KEY", value: "wJalrXUtnFEMI" },
              { name: "AWS_ACCESS_KEY_ID", value: "AKIAEXAMPLE" },
              { name: "MY_SECRET_KEY", value: "s3cr3t-value" },
              { name: "S3_USER", value: "named-by-a-ref" },
              {
                name: "RQLITE_BACKUP_ACCESS_KEY_ID",
                valueFrom: { secretKeyRef: { name: "s3", key: "AWS_ACCESS_KEY_ID" } },
              },
              { name: "LOG_LEVEL", value: "info" },
            ],
          },
        ],
      },
      backup: { s3: { credentialsSecret: { name: "s3", accessKeyIdKey: "S3_USER", secretAccessKeyKey: "S3_KEY" } } },
      config: { access_key_id: "AKIAEXAMPLE", secret_access_key: "wJalrXUtnFEMI", bucket: "b" },
    };
    const out = redactFields(pod, new Set(["S3_USER", "S3_KEY"])) as typeof pod;
    const env = out.spec.containers[0]!.env;
    assert.deepEqual(
      env.map((e) => ("value" in e ? e.value : "valueFrom")),
      [REDACTED, REDACTED, REDACTED, REDACTED, "valueFrom", "info"],
    );
    assert.deepEqual(out.backup, pod.backup, "the names of keys are not credentials");
    assert.deepEqual(out.config, { access_key_id: REDACTED, secret_access_key: REDACTED, bucket: "b" });
  });

  it("scrubs every value of a credential Secret wherever it was copied, plain or base64", () => {
    const secret = {
      metadata: { name: "s3" },
      data: {
        AWS_ACCESS_KEY_ID: Buffer.from("AKIAEXAMPLE").toString("base64"),
        AWS_SECRET_ACCESS_KEY: Buffer.from("wJalrXUtnFEMI").toString("base64"),
      },
    };
    const values = secretValues([secret]);
    const text = `note: AKIAEXAMPLE\nb64: ${Buffer.from("wJalrXUtnFEMI").toString("base64")}\n`;
    assert.equal(scrub(text, values), `note: ${REDACTED}\nb64: ${REDACTED}\n`);
    assert.deepEqual(redactSecret(secret).data, { AWS_ACCESS_KEY_ID: REDACTED, AWS_SECRET_ACCESS_KEY: REDACTED });
  });
});
