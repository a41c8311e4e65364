// Command-line flags and environment of the controller, named as controller-runtime names them.
import { parseBindAddress } from "../shared/bind-address.js";
import { parseArgs } from "node:util";
import { loopbackAddress } from "../shared/loopback-address.js";
import { parseEndpointAllow, parseNamespaceList, type EndpointAllowList } from "../shared/s3-endpoint.js";
import { watchNamespacesFromEnv } from "./runtime/informer.js";
import { leaderElectionDefaults } from "./runtime/leaderElection.js";
import type { Addressing } from "./access/clusterView.js";

export interface ControllerConfig {
  kubeconfig?: string;
  metricsAddress?: { host: string; port: number };
  metricsSecure: boolean;
  metricsCertDir?: string;
  healthAddress?: { host: string; port: number };
  leaderElect: boolean;
  leaseNamespace: string;
  leaseName: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  workers: number;
  resyncMs: number;
  nodeFailureTimeoutMs: number;
  cacheSyncTimeoutMs: number;
  cacheFailureTimeoutMs: number;
  scrapeIntervalMs: number;
  /** RqBackups transferred at once. */
  backupWorkers: number;
  /** RqBackups of one namespace transferred at once. */
  backupMaxPerNamespace: number;
  /** The longest one backup attempt may take, its idle timeout aside. */
  backupDeadlineMs: number;
  /** Wait after an RqBackup's first failed attempt; it doubles per attempt. */
  backupRetryBaseMs: number;
  /** The image of a `pvc` RqBackup's Job; undefined: the operator's own, read from its Pod. */
  backupJobImage?: string;
  /** The most bytes one backup verification stages in /tmp (compressed, and again uncompressed). */
  backupVerifyMaxBytes: number;
  namespaces?: string[];
  /** Where the operator runs; rqlite's NetworkPolicies admit its calls from there. */
  operatorNamespace: string;
  addressing: Addressing;
  /** What S3 endpoints may reach beyond public addresses (shared/s3-endpoint.ts). */
  s3EndpointAllow: EndpointAllowList;
  /** Namespaces whose objects may use the operator's own AWS identity; "*": all. */
  ambientCredentialsNamespaces: string[];
}

/** ":8080" → all interfaces, "127.0.0.1:0" → a free port, "0" → disabled. */
function bindAddress(flag: string, value: string): { host: string; port: number } | undefined {
  if (value === "0") return undefined;
  const { host, port } = parseBindAddress(value, `--${flag}`);
  return { host: host || "0.0.0.0", port };
}

function positive(flag: string, value: string, min = 1): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${flag}=${value}: expected a number >= ${min}`);
  return n;
}

export function parseControllerConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      kubeconfig: { type: "string" },
      "metrics-bind-address": { type: "string", default: ":8080" },
      // HTTPS, and only for callers the API server allows to get /metrics (controller-runtime's
      // secure metrics); the certificate from --metrics-cert-dir or self-signed.
      "metrics-secure": { type: "boolean", default: false },
      "metrics-cert-dir": { type: "string" },
      "health-probe-bind-address": { type: "string", default: ":8081" },
      "leader-elect": { type: "boolean", default: false },
      "leader-election-namespace": { type: "string" },
      "leader-election-id": { type: "string", default: "rqlite-operator.rqlite.io" },
      "lease-duration": { type: "string", default: String(leaderElectionDefaults.leaseDurationSeconds) },
      "renew-deadline": { type: "string", default: String(leaderElectionDefaults.renewDeadlineSeconds) },
      "retry-period": { type: "string", default: String(leaderElectionDefaults.retryPeriodSeconds) },
      // Reconciles wait on the API server and on rqlite; 8 keep 2 cores busy (bench:controller).
      workers: { type: "string", default: "8" },
      "resync-period": { type: "string", default: "600" },
      // How long a Pod's Kubernetes node may be unreachable before its rqlite node is replaced.
      "node-failure-timeout": { type: "string", default: "300" },
      // controller-runtime's CacheSyncTimeout: a leader whose caches have not listed by then
      // gives up the lease and exits, instead of holding it without reconciling.
      "cache-sync-timeout": { type: "string", default: "120" },
      // A leader whose synced cache cannot list or watch for this long does the same. Longer
      // than an API server restart, and than two informer retries at their 30 s backoff cap.
      "cache-failure-timeout": { type: "string", default: "60" },
      // How often each cluster's nodes are read for the rqlite_node_* metrics (0: never).
      "rqlite-metrics-interval": { type: "string", default: "30" },
      // RqBackups transferred at once; each holds two upload parts (5 MiB or more) in memory.
      "backup-workers": { type: "string", default: "2" },
      // Of those, how many one namespace may run, so that one tenant's many or slow backups
      // leave the others a worker.
      "backup-max-per-namespace": { type: "string", default: "1" },
      // The longest one backup attempt may take (seconds): a source that trickles a byte at a
      // time never trips the idle timeout, and would hold a worker for ever. Also the `pvc`
      // backup Job's activeDeadlineSeconds.
      "backup-deadline": { type: "string", default: "3600" },
      // Wait after an RqBackup's first failed attempt, doubling per attempt (5 attempts in all).
      "backup-retry-base-delay": { type: "string", default: "10" },
      // The image a `pvc` RqBackup's Job runs (the operator's own); unset: read from the
      // operator's Pod (its hostname in POD_NAMESPACE), or from RQLITE_OPERATOR_IMAGE.
      "backup-job-image": { type: "string" },
      // The most bytes one RqBackup verification (spec.verify) stages in the operator's /tmp,
      // compressed and again uncompressed; a larger backup is left unverified (TooLarge). Keep
      // it within the /tmp emptyDir's sizeLimit.
      "backup-verify-max-bytes": { type: "string", default: String(1 << 30) },
      "cluster-domain": { type: "string", default: "cluster.local" },
      addressing: { type: "string", default: "dns" },
      // CIDRs and host names (*.s3.internal) a tenant's S3 endpoint may reach although they
      // are loopback, link-local or the API server; the same list as the webhook's.
      "s3-endpoint-allow": { type: "string" },
      // Namespaces whose backups may omit credentialsSecret and sign with the operator's own
      // AWS identity (IRSA, instance role); "*" for all. None by default.
      "ambient-credentials-namespaces": { type: "string" },
    },
  });
  const addressing: Addressing =
    values.addressing === "loopback"
      ? { kind: "static", addressOf: loopbackAddress }
      : values.addressing === "dns"
        ? { kind: "dns", clusterDomain: values["cluster-domain"] }
        : (() => {
            throw new Error(
              `--addressing=${values.addressing}: expected dns (in a cluster) or loopback (the local runtime)`,
            );
          })();
  return {
    kubeconfig: values.kubeconfig,
    metricsAddress: bindAddress("metrics-bind-address", values["metrics-bind-address"]),
    metricsSecure: values["metrics-secure"],
    ...(values["metrics-cert-dir"] ? { metricsCertDir: values["metrics-cert-dir"] } : {}),
    healthAddress: bindAddress("health-probe-bind-address", values["health-probe-bind-address"]),
    leaderElect: values["leader-elect"],
    leaseNamespace: values["leader-election-namespace"] ?? env.POD_NAMESPACE ?? "rqlite-operator-system",
    leaseName: values["leader-election-id"],
    leaseDurationSeconds: positive("lease-duration", values["lease-duration"]),
    renewDeadlineSeconds: positive("renew-deadline", values["renew-deadline"]),
    retryPeriodSeconds: positive("retry-period", values["retry-period"], 0.1),
    workers: positive("workers", values.workers),
    resyncMs: positive("resync-period", values["resync-period"], 0) * 1000,
    nodeFailureTimeoutMs: positive("node-failure-timeout", values["node-failure-timeout"], 0) * 1000,
    cacheSyncTimeoutMs: positive("cache-sync-timeout", values["cache-sync-timeout"], 0.1) * 1000,
    cacheFailureTimeoutMs: positive("cache-failure-timeout", values["cache-failure-timeout"], 0.1) * 1000,
    scrapeIntervalMs: positive("rqlite-metrics-interval", values["rqlite-metrics-interval"], 0) * 1000,
    backupWorkers: positive("backup-workers", values["backup-workers"]),
    backupMaxPerNamespace: positive("backup-max-per-namespace", values["backup-max-per-namespace"]),
    backupDeadlineMs: positive("backup-deadline", values["backup-deadline"]) * 1000,
    backupRetryBaseMs: positive("backup-retry-base-delay", values["backup-retry-base-delay"], 0.1) * 1000,
    ...((values["backup-job-image"] ?? env.RQLITE_OPERATOR_IMAGE)
      ? { backupJobImage: values["backup-job-image"] ?? env.RQLITE_OPERATOR_IMAGE }
      : {}),
    backupVerifyMaxBytes: positive("backup-verify-max-bytes", values["backup-verify-max-bytes"]),
    namespaces: watchNamespacesFromEnv(env),
    operatorNamespace: env.POD_NAMESPACE ?? "rqlite-operator-system",
    addressing,
    // The environment too, under the webhook's names: one Pod-level setting (OLM's
    // Subscription config.env) reaches both.
    s3EndpointAllow: parseEndpointAllow(values["s3-endpoint-allow"] ?? env.S3_ENDPOINT_ALLOW ?? ""),
    ambientCredentialsNamespaces: parseNamespaceList(
      values["ambient-credentials-namespaces"] ?? env.AMBIENT_CREDENTIALS_NAMESPACES ?? "",
    ),
  };
}
