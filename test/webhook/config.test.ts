import { strict as assert } from "node:assert";
import {
  ConfigError,
  DEFAULT_MAX_BODY_BYTES,
  parseBindAddress,
  parseConfig,
  parseDuration,
  type WebhookConfig,
} from "../../webhook/config.js";
import { STRICT_S3_POLICY } from "../../shared/index.js";
import { DEFAULT_CERT_DIR, OLM_CERT_DIR, resolveCertPaths } from "../../webhook/tls.js";

function config(argv: string[], env: NodeJS.ProcessEnv = {}): WebhookConfig {
  const c = parseConfig(argv, env);
  assert.notEqual(c, "help");
  return c as WebhookConfig;
}

describe("webhook settings", () => {
  it("defaults to controller-runtime's port and metrics address, and limits that fit kube-apiserver's calls", () => {
    assert.deepEqual(config([]), {
      host: "",
      port: 9443,
      certDir: undefined,
      certFile: undefined,
      keyFile: undefined,
      metricsBindAddress: ":8080",
      metricsSecure: false,
      kubeconfig: undefined,
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      requestTimeoutMs: 15_000,
      maxConnections: 4096,
      maxConnectionsPerPeer: 256,
      handshakeTimeoutMs: 10_000,
      certPollIntervalMs: 10_000,
      shutdownTimeoutMs: 30_000,
      logLevel: "info",
      s3Policy: STRICT_S3_POLICY,
    });
  });

  it("takes the S3 policy from flags or the environment, and the API server from the Pod's environment", () => {
    const c = config(["--s3-endpoint-allow=10.20.0.0/16,*.s3.internal"], {
      AMBIENT_CREDENTIALS_NAMESPACES: "team-a, team-b",
      KUBERNETES_SERVICE_HOST: "10.96.0.1",
    });
    assert.deepEqual(c.s3Policy.allow.hosts, ["*.s3.internal"]);
    assert.deepEqual(
      c.s3Policy.allow.cidrs.map((r) => r.text),
      ["10.20.0.0/16"],
    );
    assert.deepEqual(c.s3Policy.ambientCredentialsNamespaces, ["team-a", "team-b"]);
    assert.deepEqual(c.s3Policy.apiServer, { addresses: ["10.96.0.1"], hosts: [] });
  });

  it("takes flags over environment variables over defaults", () => {
    const env = { WEBHOOK_PORT: "8443", WEBHOOK_CERT_DIR: "/env/certs", LOG_LEVEL: "debug" };
    const c = config(["--port=10443", "--shutdown-timeout", "5s"], env);
    assert.equal(c.port, 10443);
    assert.equal(c.certDir, "/env/certs");
    assert.equal(c.logLevel, "debug");
    assert.equal(c.shutdownTimeoutMs, 5000);
  });

  it("reads durations as Go-style text or seconds", () => {
    assert.equal(parseDuration("250ms", "x"), 250);
    assert.equal(parseDuration("1.5s", "x"), 1500);
    assert.equal(parseDuration("2m", "x"), 120_000);
    assert.equal(parseDuration("7", "x"), 7000);
    assert.throws(() => parseDuration("soon", "--shutdown-timeout"), /--shutdown-timeout: "soon" is not a duration/);
  });

  it("splits bind addresses", () => {
    assert.deepEqual(parseBindAddress(":8080", "x"), { host: "", port: 8080 });
    assert.deepEqual(parseBindAddress("127.0.0.1:0", "x"), { host: "127.0.0.1", port: 0 });
    assert.deepEqual(parseBindAddress("[::1]:9090", "x"), { host: "::1", port: 9090 });
    assert.equal(config(["--metrics-bind-address", "0"]).metricsBindAddress, "0");
  });

  const bad: [string, string[], RegExp][] = [
    ["a port out of range", ["--port", "70000"], /--port: "70000" must be a whole number from 0 to 65535/],
    ["an unknown flag", ["--prot", "1"], /Unknown option '--prot'[\s\S]*usage: webhook/],
    ["a cert file without its key", ["--tls-cert-file", "/a.crt"], /go together/],
    ["a request timeout under the header timeout", ["--request-timeout", "5s"], /at least the 10s header timeout/],
    ["no connections at all", ["--max-connections", "0"], /--max-connections: "0" must be a whole number from 1/],
    ["no connections per peer", ["--max-connections-per-peer", "0"], /--max-connections-per-peer: "0" must be/],
    ["no time for a handshake", ["--tls-handshake-timeout", "0"], /--tls-handshake-timeout must be at least 100ms/],
    ["a value after --metrics-secure", ["--metrics-secure=yes"], /does not take an argument/],
    ["a bad metrics address", ["--metrics-bind-address", "8080"], /not host:port/],
    ["a tiny body limit", ["--max-body-bytes", "10"], /from 1024/],
    ["an S3 allow entry that is no CIDR or host", ["--s3-endpoint-allow", "10.0.0.0/40"], /neither a CIDR/],
    ["a namespace that is no name", ["--ambient-credentials-namespaces", "Team_A"], /not a namespace name/],
  ];
  for (const [what, argv, message] of bad) {
    it(`refuses ${what} with a ConfigError`, () => {
      assert.throws(
        () => parseConfig(argv, {}),
        (err: unknown) => err instanceof ConfigError && message.test(err.message),
      );
    });
  }

  it("reads --metrics-secure as a bare flag or WEBHOOK_METRICS_SECURE=true|false", () => {
    assert.equal(config(["--metrics-secure"]).metricsSecure, true);
    assert.equal(config([], { WEBHOOK_METRICS_SECURE: "true" }).metricsSecure, true);
    assert.throws(
      () => parseConfig([], { WEBHOOK_METRICS_SECURE: "yes" }),
      (err: unknown) => err instanceof ConfigError && /--metrics-secure: "yes" must be true or false/.test(err.message),
    );
  });

  it("answers --help", () => {
    assert.equal(parseConfig(["--help"], {}), "help");
  });
});

describe("serving certificate location", () => {
  const none = () => false;

  it("prefers explicit files, then --cert-dir", () => {
    assert.deepEqual(resolveCertPaths({ certFile: "/a.crt", keyFile: "/a.key", certDir: "/d" }, none), {
      certFile: "/a.crt",
      keyFile: "/a.key",
    });
    assert.deepEqual(resolveCertPaths({ certDir: "/d" }, none), { certFile: "/d/tls.crt", keyFile: "/d/tls.key" });
  });

  it("finds the cert-manager mount first, then OLM's", () => {
    const mounted = (files: string[]) => (p: string) => files.includes(p);
    const both = mounted([
      `${DEFAULT_CERT_DIR}/tls.crt`,
      `${DEFAULT_CERT_DIR}/tls.key`,
      `${OLM_CERT_DIR}/apiserver.crt`,
      `${OLM_CERT_DIR}/apiserver.key`,
    ]);
    assert.deepEqual(resolveCertPaths({}, both), {
      certFile: `${DEFAULT_CERT_DIR}/tls.crt`,
      keyFile: `${DEFAULT_CERT_DIR}/tls.key`,
    });
    const olm = mounted([
      `${OLM_CERT_DIR}/apiserver.crt`,
      `${OLM_CERT_DIR}/apiserver.key`,
      `${DEFAULT_CERT_DIR}/tls.crt`,
    ]);
    assert.deepEqual(resolveCertPaths({}, olm), {
      certFile: `${OLM_CERT_DIR}/apiserver.crt`,
      keyFile: `${OLM_CERT_DIR}/apiserver.key`,
    });
  });

  it("says where it looked when there is no certificate", () => {
    assert.throws(
      () => resolveCertPaths({}, none),
      /no serving certificate found \(looked for \/tmp\/k8s-webhook-server\/serving-certs\/tls\.crt \+ .*apiserver\.key\)/,
    );
  });
});
