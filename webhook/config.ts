// Webhook server settings from command-line flags, then environment variables, then defaults.
// The defaults mirror controller-runtime's webhook server, so manifests written for a Go
// operator (port 9443, cert dir, probe and metrics ports) work unchanged.
import { parseBindAddress as parseAddress } from "../shared/bind-address.js";
import { parseArgs } from "node:util";
import { apiServerOf, parseEndpointAllow, parseNamespaceList, type S3Policy } from "../shared/s3-endpoint.js";

export interface WebhookConfig {
  /** Interface to listen on; empty means all interfaces. */
  host: string;
  port: number;
  /** Folder holding tls.crt and tls.key; when unset the well-known mount points are searched. */
  certDir?: string;
  certFile?: string;
  keyFile?: string;
  /** `host:port` (or `:port`) of the /metrics, /healthz, /readyz listener; "0" turns it off. */
  metricsBindAddress: string;
  /**
   * Serve that listener over HTTPS (with the webhook's certificate) and /metrics only to callers
   * the API server allows to get it, as the controller does.
   */
  metricsSecure: boolean;
  /** Credentials for those reviews; unset, the Pod's ServiceAccount. */
  kubeconfig?: string;
  /** Largest AdmissionReview body accepted, in bytes. */
  maxBodyBytes: number;
  /** Time allowed to receive one whole request (headers and body). */
  requestTimeoutMs: number;
  /** Open connections at most, a memory bound: each costs the process a few tens of KiB. */
  maxConnections: number;
  /**
   * Open connections at most from one client address, so that one Pod cannot take every slot
   * from the API server; kube-apiserver keeps a pool of a few dozen, so a peer over this is not one.
   */
  maxConnectionsPerPeer: number;
  /** Time a client has to finish the TLS handshake. */
  handshakeTimeoutMs: number;
  /** How often the certificate files are checked, as a backstop to file-system events. */
  certPollIntervalMs: number;
  /** How long SIGTERM waits for in-flight requests before closing their connections. */
  shutdownTimeoutMs: number;
  logLevel: string;
  /** Where tenants' S3 endpoints may point and who may use ambient credentials; the controller's flags say the same. */
  s3Policy: S3Policy;
}

/**
 * An UPDATE's review carries two objects: the new one, up to kube-apiserver's 3 MiB request
 * limit (admission runs before etcd's 1.5 MiB limit refuses it), and the stored one, up to
 * 1.5 MiB; 6 MiB holds both with the review around them.
 */
export const DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024;
/** controller-runtime's http.Server IdleTimeout. */
export const IDLE_TIMEOUT_MS = 90_000;
/**
 * kube-apiserver sends its headers at once and waits at most the webhook's timeoutSeconds (10
 * in deploy/, 30 at most) for the answer: a request still arriving after that is answered to
 * no one, and a client that trickles one in only holds a connection.
 */
export const HEADERS_TIMEOUT_MS = 10_000;
/**
 * Each connection costs about 10 KiB before its first request: 4096 stay far below the
 * container's memory limit, and with the per-peer cap no single Pod reaches them.
 */
export const DEFAULT_MAX_CONNECTIONS = 4096;
export const DEFAULT_MAX_CONNECTIONS_PER_PEER = 256;

interface Setting {
  flag: string;
  env: string;
  description: string;
  fallback: string;
  /** A flag without a value (`--metrics-secure`); its variable is "true" or "false". */
  boolean?: true;
}

// One table drives parsing, environment lookup and --help, so they cannot drift apart.
const SETTINGS = {
  host: { flag: "host", env: "WEBHOOK_HOST", description: "interface to listen on (empty: all)", fallback: "" },
  port: { flag: "port", env: "WEBHOOK_PORT", description: "HTTPS port of the webhook", fallback: "9443" },
  certDir: { flag: "cert-dir", env: "WEBHOOK_CERT_DIR", description: "folder with tls.crt and tls.key", fallback: "" },
  certFile: {
    flag: "tls-cert-file",
    env: "WEBHOOK_TLS_CERT_FILE",
    description: "serving certificate file (overrides --cert-dir)",
    fallback: "",
  },
  keyFile: {
    flag: "tls-key-file",
    env: "WEBHOOK_TLS_KEY_FILE",
    description: "serving key file (overrides --cert-dir)",
    fallback: "",
  },
  metricsBindAddress: {
    flag: "metrics-bind-address",
    env: "METRICS_BIND_ADDRESS",
    description: 'metrics and probe address, "0" to disable',
    fallback: ":8080",
  },
  metricsSecure: {
    flag: "metrics-secure",
    env: "WEBHOOK_METRICS_SECURE",
    description: "HTTPS, and /metrics only for callers allowed to get it (TokenReview, SubjectAccessReview)",
    fallback: "false",
    boolean: true,
  },
  kubeconfig: {
    flag: "kubeconfig",
    env: "KUBECONFIG",
    description: "credentials for --metrics-secure's reviews (empty: the Pod's ServiceAccount)",
    fallback: "",
  },
  maxBodyBytes: {
    flag: "max-body-bytes",
    env: "WEBHOOK_MAX_BODY_BYTES",
    description: "largest request body accepted",
    fallback: String(DEFAULT_MAX_BODY_BYTES),
  },
  requestTimeout: {
    flag: "request-timeout",
    env: "WEBHOOK_REQUEST_TIMEOUT",
    description: "time to receive a whole request (at least the 10s header timeout)",
    fallback: "15s",
  },
  maxConnections: {
    flag: "max-connections",
    env: "WEBHOOK_MAX_CONNECTIONS",
    description: "open connections at most",
    fallback: String(DEFAULT_MAX_CONNECTIONS),
  },
  maxConnectionsPerPeer: {
    flag: "max-connections-per-peer",
    env: "WEBHOOK_MAX_CONNECTIONS_PER_PEER",
    description: "open connections at most from one client address",
    fallback: String(DEFAULT_MAX_CONNECTIONS_PER_PEER),
  },
  handshakeTimeout: {
    flag: "tls-handshake-timeout",
    env: "WEBHOOK_TLS_HANDSHAKE_TIMEOUT",
    description: "time a client has to finish the TLS handshake",
    fallback: "10s",
  },
  certPollInterval: {
    flag: "cert-poll-interval",
    env: "WEBHOOK_CERT_POLL_INTERVAL",
    description: "backstop interval for certificate file checks",
    fallback: "10s",
  },
  shutdownTimeout: {
    flag: "shutdown-timeout",
    env: "WEBHOOK_SHUTDOWN_TIMEOUT",
    description: "grace period for in-flight requests on SIGTERM",
    fallback: "30s",
  },
  s3EndpointAllow: {
    flag: "s3-endpoint-allow",
    env: "S3_ENDPOINT_ALLOW",
    description: "CIDRs and host names (*.s3.internal) S3 endpoints may reach beyond public addresses",
    fallback: "",
  },
  ambientCredentialsNamespaces: {
    flag: "ambient-credentials-namespaces",
    env: "AMBIENT_CREDENTIALS_NAMESPACES",
    description: "namespaces whose backups may omit credentialsSecret (* for all)",
    fallback: "",
  },
  logLevel: { flag: "log-level", env: "LOG_LEVEL", description: "trace, debug, info, warn, error", fallback: "info" },
} satisfies Record<string, Setting>;

type SettingName = keyof typeof SETTINGS;

export class ConfigError extends Error {}

export function usage(): string {
  const lines = Object.values(SETTINGS).map(
    (s: Setting) => `  --${s.flag.padEnd(22)} ${s.description} (env ${s.env}, default ${JSON.stringify(s.fallback)})`,
  );
  return ["usage: webhook [flags]", ...lines, "  --help                 this text"].join("\n");
}

/** `250ms`, `30s`, `2m`, or a bare number of seconds, in milliseconds. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new ConfigError(`${what}: ${JSON.stringify(text)} is not a duration such as 500ms, 30s or 2m`);
  const scale = { ms: 1, s: 1000, m: 60_000 }[m[2] ?? "s"]!;
  return Math.round(Number(m[1]) * scale);
}

function parseBoolean(text: string, what: string): boolean {
  if (text === "true" || text === "false") return text === "true";
  throw new ConfigError(`${what}: ${JSON.stringify(text)} must be true or false`);
}

function parseWhole(text: string, what: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < min || n > max) {
    throw new ConfigError(`${what}: ${JSON.stringify(text)} must be a whole number from ${min} to ${max}`);
  }
  return n;
}

/** Parses flags (`--port 9443` or `--port=9443`) over environment variables over defaults. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): WebhookConfig | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean" },
        ...Object.fromEntries(
          Object.values(SETTINGS).map((s: Setting) => [
            s.flag,
            { type: s.boolean ? ("boolean" as const) : ("string" as const) },
          ]),
        ),
      },
    });
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n${usage()}`);
  }
  if (parsed.values.help) return "help";
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const get = (name: SettingName): string => {
    const s: Setting = SETTINGS[name];
    return String(values[s.flag] ?? env[s.env] ?? s.fallback);
  };
  const label = (name: SettingName) => `--${SETTINGS[name].flag}`;
  const optional = (name: SettingName) => get(name) || undefined;

  const config: WebhookConfig = {
    host: get("host"),
    port: parseWhole(get("port"), label("port"), 0, 65535),
    certDir: optional("certDir"),
    certFile: optional("certFile"),
    keyFile: optional("keyFile"),
    metricsBindAddress: get("metricsBindAddress"),
    metricsSecure: parseBoolean(get("metricsSecure"), label("metricsSecure")),
    kubeconfig: optional("kubeconfig"),
    maxBodyBytes: parseWhole(get("maxBodyBytes"), label("maxBodyBytes"), 1024, 1 << 30),
    requestTimeoutMs: parseDuration(get("requestTimeout"), label("requestTimeout")),
    maxConnections: parseWhole(get("maxConnections"), label("maxConnections"), 1, 1 << 20),
    maxConnectionsPerPeer: parseWhole(get("maxConnectionsPerPeer"), label("maxConnectionsPerPeer"), 1, 1 << 20),
    handshakeTimeoutMs: parseDuration(get("handshakeTimeout"), label("handshakeTimeout")),
    certPollIntervalMs: parseDuration(get("certPollInterval"), label("certPollInterval")),
    shutdownTimeoutMs: parseDuration(get("shutdownTimeout"), label("shutdownTimeout")),
    logLevel: get("logLevel"),
    s3Policy: {
      allow: parseSetting(() => parseEndpointAllow(get("s3EndpointAllow"))),
      // The API server as Pods reach it; its name (kubernetes.default.svc) is refused anyway.
      apiServer: apiServerOf([env.KUBERNETES_SERVICE_HOST]),
      ambientCredentialsNamespaces: parseSetting(() => parseNamespaceList(get("ambientCredentialsNamespaces"))),
    },
  };
  if ((config.certFile === undefined) !== (config.keyFile === undefined)) {
    throw new ConfigError(`${label("certFile")} and ${label("keyFile")} go together: set both or neither`);
  }
  // Node refuses a header timeout longer than the request timeout.
  if (config.requestTimeoutMs < HEADERS_TIMEOUT_MS) {
    throw new ConfigError(
      `${label("requestTimeout")} must be at least the ${HEADERS_TIMEOUT_MS / 1000}s header timeout`,
    );
  }
  if (config.handshakeTimeoutMs < 100) throw new ConfigError(`${label("handshakeTimeout")} must be at least 100ms`);
  if (config.certPollIntervalMs < 100) throw new ConfigError(`${label("certPollInterval")} must be at least 100ms`);
  if (config.metricsBindAddress !== "0") parseBindAddress(config.metricsBindAddress, label("metricsBindAddress"));
  return config;
}

/** A parser's error as a ConfigError, so main prints it and exits 2. */
function parseSetting<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/** Splits `host:port`, `:port` or `[::1]:port`; an empty host means all interfaces. */
export function parseBindAddress(address: string, what: string): { host: string; port: number } {
  try {
    return parseAddress(address, what);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}
