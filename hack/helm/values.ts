// The chart's values: one JSON schema with a description and a default for every setting. The
// defaults are read from deploy/base's Deployments and webhook configurations (and the
// controller's own leader-election defaults), so values.yaml says what kustomize installs; the
// schema is written as values.schema.json, values.yaml is its defaults with the descriptions as
// comments, and the README's values table is made from it too.
import { Document, isMap, isScalar, type YAMLMap } from "yaml";
import { leaderElectionDefaults } from "../../controller/runtime/leaderElection.js";
import { findObject, type K8sObject } from "../kustomize.js";

export interface Schema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  [keyword: string]: unknown;
}

export interface PodSpec {
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  affinity?: Record<string, unknown>;
  containers: {
    image: string;
    imagePullPolicy?: string;
    resources?: unknown;
    env?: { name: string; value?: string }[];
  }[];
}

export function podSpecOf(deployment: K8sObject): PodSpec {
  return (deployment.spec as { template: { spec: PodSpec } }).template.spec;
}

/** `repo:tag` → [repo, tag]; the registry's port (`host:5000/x`) is not a tag. */
export function splitImage(image: string): [string, string] {
  const at = image.lastIndexOf(":");
  if (at < 0 || image.slice(at).includes("/")) throw new Error(`image ${image} has no tag to split off`);
  return [image.slice(0, at), image.slice(at + 1)];
}

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"];
/** Both entry points log at info unless LOG_LEVEL says otherwise. */
const DEFAULT_LOG_LEVEL = "info";

const DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const DNS_SUBDOMAIN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

const quantities: Schema = { type: "object", additionalProperties: { type: ["string", "number"] } };

function deploymentValues(deployment: K8sObject, what: string): Schema {
  const pod = podSpecOf(deployment);
  const leaf = (description: string, schema: Schema, value: unknown): Schema => ({
    ...schema,
    description,
    default: value,
  });
  return {
    type: "object",
    description: `The ${what} Deployment.`,
    additionalProperties: false,
    properties: {
      replicas: leaf(
        "Pods; with more than one, a PodDisruptionBudget keeps one running through node drains (with one, there is none).",
        { type: "integer", minimum: 1 },
        (deployment.spec as { replicas: number }).replicas,
      ),
      resources: leaf(
        "Container resources (requests and limits).",
        {
          type: "object",
          additionalProperties: false,
          properties: { requests: quantities, limits: quantities, claims: { type: "array" } },
        },
        pod.containers[0]!.resources ?? {},
      ),
      nodeSelector: leaf(
        "Node labels the Pods must match.",
        { type: "object", additionalProperties: { type: "string" } },
        pod.nodeSelector ?? {},
      ),
      tolerations: leaf(
        "Tolerations of node taints.",
        { type: "array", items: { type: "object" } },
        pod.tolerations ?? [],
      ),
      extraArgs: leaf(
        "More command-line flags of the container, after the chart's (`--name=value`).",
        { type: "array", items: { type: "string", pattern: "^--[a-z0-9-]+(=.*)?$" } },
        [],
      ),
      affinity: leaf(
        "Pod affinity; the default spreads the replicas over nodes (`null` for none: Helm merges maps with the defaults).",
        {
          type: "object",
          additionalProperties: false,
          properties: {
            nodeAffinity: { type: "object" },
            podAffinity: { type: "object" },
            podAntiAffinity: { type: "object" },
          },
        },
        pod.affinity ?? {},
      ),
    },
  };
}

interface WebhookEntry {
  failurePolicy: string;
}

function baseFailurePolicy(objects: K8sObject[]): string {
  const policies = new Set(
    objects
      .filter((o) => o.kind.endsWith("WebhookConfiguration"))
      .flatMap((o) => (o.webhooks as WebhookEntry[]).map((w) => w.failurePolicy)),
  );
  if (policies.size !== 1)
    throw new Error(
      `deploy/base's webhooks differ in failurePolicy (${[...policies].join(", ")}); the chart has one value for all`,
    );
  return [...policies][0]!;
}

function baseWatchNamespaces(controller: K8sObject): string[] {
  const env = podSpecOf(controller).containers[0]!.env ?? [];
  const value = env.find((e) => e.name === "WATCH_NAMESPACES")?.value;
  if (value === undefined)
    throw new Error("deploy/base's controller has no WATCH_NAMESPACES value to default watchNamespaces from");
  return value.split(",").filter(Boolean);
}

function baseList(controller: K8sObject, name: string): string[] {
  const value = (podSpecOf(controller).containers[0]!.env ?? []).find((e) => e.name === name)?.value;
  if (value === undefined) throw new Error(`deploy/base's controller has no ${name} value to default the chart's from`);
  return value.split(",").filter(Boolean);
}

/**
 * The controller's tuning flags (controller/config.ts), each a value that is unset by default:
 * the binary's own default then applies, said in the description, and a default install renders
 * exactly what deploy/ does.
 */
export const CONTROLLER_FLAGS: Record<string, { flag: string; description: string; schema: Schema }> = {
  workers: {
    flag: "workers",
    description: "RqClusters reconciled at once (binary default 8).",
    schema: { type: "integer", minimum: 1 },
  },
  resyncPeriod: {
    flag: "resync-period",
    description: "Seconds between full re-reads of every RqCluster (binary default 600).",
    schema: { type: "number", minimum: 0 },
  },
  nodeFailureTimeout: {
    flag: "node-failure-timeout",
    description:
      "Seconds a Pod's Kubernetes node may be unreachable before its rqlite node is replaced (binary default 300).",
    schema: { type: "number", minimum: 0 },
  },
  cacheSyncTimeout: {
    flag: "cache-sync-timeout",
    description:
      "Seconds a new leader waits for its caches to list before it gives up the Lease and exits (binary default 120).",
    schema: { type: "number", minimum: 0.1 },
  },
  cacheFailureTimeout: {
    flag: "cache-failure-timeout",
    description:
      "Seconds a synced cache may fail to list or watch before the leader gives up the Lease and exits (binary default 60).",
    schema: { type: "number", minimum: 0.1 },
  },
  rqliteMetricsInterval: {
    flag: "rqlite-metrics-interval",
    description: "Seconds between reads of each node for the rqlite_node_* metrics; 0 never (binary default 30).",
    schema: { type: "number", minimum: 0 },
  },
  backupWorkers: {
    flag: "backup-workers",
    description: "RqBackups transferred at once (binary default 2).",
    schema: { type: "integer", minimum: 1 },
  },
  backupMaxPerNamespace: {
    flag: "backup-max-per-namespace",
    description: "Of those, how many one namespace may run (binary default 1).",
    schema: { type: "integer", minimum: 1 },
  },
  backupDeadline: {
    flag: "backup-deadline",
    description: "Seconds one backup attempt may take, also a `pvc` backup Job's deadline (binary default 3600).",
    schema: { type: "number", minimum: 1 },
  },
  backupRetryBaseDelay: {
    flag: "backup-retry-base-delay",
    description: "Seconds before an RqBackup's second attempt, doubling per attempt (binary default 10).",
    schema: { type: "number", minimum: 0.1 },
  },
  backupJobImage: {
    flag: "backup-job-image",
    description: "The image a `pvc` RqBackup's Job runs (binary default: the operator's own, read from its Pod).",
    schema: { type: "string", minLength: 1 },
  },
  clusterDomain: {
    flag: "cluster-domain",
    description: "The cluster's DNS domain, in every rqlite node's address (binary default `cluster.local`).",
    schema: { type: "string", pattern: DNS_SUBDOMAIN },
  },
};

function controllerFlagValues(): Schema {
  return {
    type: "object",
    description: "The controller's tuning flags; null (the default) leaves the binary's default.",
    additionalProperties: false,
    properties: Object.fromEntries(
      Object.entries(CONTROLLER_FLAGS).map(([key, f]) => [
        key,
        { ...f.schema, type: [f.schema.type as string, "null"], description: f.description, default: null },
      ]),
    ),
  };
}

/** Labels of the operator's own Pods that their Deployments select by: podLabels may not set them. */
const SELECTOR_LABELS = ["app.kubernetes.io/name", "app.kubernetes.io/component"];

/** values.schema.json, defaults included, from deploy/base's objects. */
export function valuesSchema(base: K8sObject[]): Schema {
  const controller = findObject(base, "Deployment", "rqlite-operator-controller");
  const webhook = findObject(base, "Deployment", "rqlite-operator-webhook");
  const [repository] = splitImage(podSpecOf(controller).containers[0]!.image);
  const webhookValues = deploymentValues(webhook, "admission webhook");
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    title: "rqlite-operator Helm chart values",
    type: "object",
    additionalProperties: false,
    properties: {
      // A parent chart passes `global` to every subchart.
      global: { type: "object" },
      nameOverride: {
        type: "string",
        pattern: `(${DNS_LABEL})|^$`,
        maxLength: 40,
        description:
          'Stands for the chart\'s name in the names of every object: "<release>-<nameOverride>" (the release name alone when it contains it).',
        default: "",
      },
      fullnameOverride: {
        type: "string",
        pattern: `(${DNS_LABEL})|^$`,
        maxLength: 40,
        description:
          "The prefix of every object's name (ClusterRoles and webhook configurations included); empty derives it from the release name as nameOverride says. Two releases in one cluster need different ones, each in its own namespace.",
        default: "",
      },
      image: {
        type: "object",
        description: "The operator's image (controller and webhook run the same one).",
        additionalProperties: false,
        properties: {
          repository: { type: "string", minLength: 1, description: "Image repository.", default: repository },
          tag: { type: "string", description: "Image tag; empty means the chart's appVersion.", default: "" },
          digest: {
            type: "string",
            pattern: "^(sha256:[a-f0-9]{64})?$",
            description: "Image digest (`sha256:...`); when set it pins the image, the tag stays for readers.",
            default: "",
          },
          pullPolicy: {
            type: "string",
            enum: ["Always", "IfNotPresent", "Never"],
            description: "Image pull policy.",
            default: podSpecOf(controller).containers[0]!.imagePullPolicy ?? "IfNotPresent",
          },
        },
      },
      imagePullSecrets: {
        type: "array",
        items: { type: "object", required: ["name"], properties: { name: { type: "string", minLength: 1 } } },
        description: "Secrets for pulling the image from a private registry.",
        default: [],
      },
      serviceAccount: {
        type: "object",
        description: "The controller's and the webhook's ServiceAccounts.",
        additionalProperties: false,
        properties: {
          annotations: {
            type: "object",
            additionalProperties: { type: "string" },
            description:
              "Annotations of both ServiceAccounts, e.g. `eks.amazonaws.com/role-arn` (IRSA) or `iam.gke.io/gcp-service-account` for the controller's S3 identity.",
            default: {},
          },
        },
      },
      podAnnotations: {
        type: "object",
        additionalProperties: { type: "string" },
        description: "Annotations of the controller's and the webhook's Pods.",
        default: {},
      },
      podLabels: {
        type: "object",
        additionalProperties: { type: "string" },
        propertyNames: { not: { enum: SELECTOR_LABELS } },
        description: `Labels of the controller's and the webhook's Pods, beside those their Deployments select by (${SELECTOR_LABELS.join(", ")}), which they may not set.`,
        default: {},
      },
      priorityClassName: {
        type: "string",
        pattern: `(${DNS_SUBDOMAIN})|^$`,
        description: "PriorityClass of the controller's and the webhook's Pods; empty for the cluster's default.",
        default: "",
      },
      extraEnv: {
        type: "array",
        items: { type: "object", required: ["name"], properties: { name: { type: "string", minLength: 1 } } },
        description:
          "More environment variables of both containers, as a Pod spells them (e.g. `HTTPS_PROXY`, `NO_PROXY` for S3 behind a proxy).",
        default: [],
      },
      logLevel: {
        type: "string",
        enum: LOG_LEVELS,
        description: "Log level of both components (LOG_LEVEL).",
        default: DEFAULT_LOG_LEVEL,
      },
      watchNamespaces: {
        type: "array",
        uniqueItems: true,
        items: { type: "string", pattern: DNS_LABEL, maxLength: 63 },
        description: "Namespaces whose RqClusters the controller reconciles; empty means every namespace.",
        default: baseWatchNamespaces(controller),
      },
      s3: {
        type: "object",
        description:
          "Where tenants' backups may send S3 requests, and with whose credentials; the controller and the webhook get the same settings.",
        additionalProperties: false,
        properties: {
          endpointAllow: {
            type: "array",
            uniqueItems: true,
            items: { type: "string", pattern: "^[*a-zA-Z0-9.:/-]+$" },
            description:
              "CIDRs and host names (`*.s3.internal` for any name below) that S3 endpoints may reach although they are loopback, link-local (cloud metadata) or the API server; empty refuses them all.",
            default: baseList(controller, "S3_ENDPOINT_ALLOW"),
          },
          ambientCredentialsNamespaces: {
            type: "array",
            uniqueItems: true,
            items: { type: "string", pattern: "^([a-z0-9]([-a-z0-9]*[a-z0-9])?|\\*)$", maxLength: 63 },
            description:
              'Namespaces whose backups may omit `credentialsSecret` and sign with the operator\'s own AWS identity (IRSA, instance role); `"*"` for all; empty for none.',
            default: baseList(controller, "AMBIENT_CREDENTIALS_NAMESPACES"),
          },
        },
      },
      leaderElection: {
        type: "object",
        description:
          "The controller's Lease, in seconds (controller-runtime's defaults); leaseDuration > renewDeadline > retryPeriod.",
        additionalProperties: false,
        properties: {
          leaseDuration: {
            type: "number",
            minimum: 1,
            description: "How long a Lease holds without renewal before a standby takes over.",
            default: leaderElectionDefaults.leaseDurationSeconds,
          },
          renewDeadline: {
            type: "number",
            minimum: 1,
            description: "How long the leader keeps trying to renew before it stops reconciling.",
            default: leaderElectionDefaults.renewDeadlineSeconds,
          },
          retryPeriod: {
            type: "number",
            minimum: 0.1,
            description: "Time between attempts to acquire or renew.",
            default: leaderElectionDefaults.retryPeriodSeconds,
          },
        },
      },
      controller: withProperties(deploymentValues(controller, "controller"), {
        flags: controllerFlagValues(),
        extraEgress: extraEgressValues(),
      }),
      webhook: {
        ...webhookValues,
        properties: {
          ...webhookValues.properties,
          failurePolicy: {
            type: "string",
            enum: ["Fail", "Ignore"],
            description:
              "What the API server does with an RqCluster write when the webhook cannot be reached: `Fail` refuses it, `Ignore` lets it through unchecked.",
            default: baseFailurePolicy(base),
          },
          certificate: certificateValues(),
        },
      },
      monitoring: {
        type: "object",
        description: "prometheus-operator objects (needs its CRDs) and the Grafana dashboard.",
        additionalProperties: false,
        properties: {
          enabled: {
            type: "boolean",
            description:
              'Install the ServiceMonitor, the PrometheusRule and the dashboard ConfigMap (label `grafana_dashboard: "1"`).',
            default: false,
          },
          labels: {
            type: "object",
            additionalProperties: { type: "string" },
            description:
              "Extra labels on the ServiceMonitor and PrometheusRule, for a Prometheus that selects by label (e.g. `release`).",
            default: {},
          },
        },
      },
      crds: {
        type: "object",
        description: "The RqCluster CustomResourceDefinition, templated so `helm upgrade` updates it.",
        additionalProperties: false,
        properties: {
          install: {
            type: "boolean",
            description: "Install and upgrade the CRD with the chart; false when it is managed elsewhere.",
            default: true,
          },
          keep: {
            type: "boolean",
            description: "Keep the CRD, and so every RqCluster, on `helm uninstall` (`helm.sh/resource-policy: keep`).",
            default: true,
          },
        },
      },
    },
  };
}

/** NetworkPolicy egress rules as the API spells them, checked before the API server sees them. */
function extraEgressValues(): Schema {
  const port: Schema = {
    type: "object",
    additionalProperties: false,
    properties: {
      port: { type: ["integer", "string"], minimum: 1, maximum: 65535, pattern: DNS_LABEL, maxLength: 15 },
      endPort: { type: "integer", minimum: 1, maximum: 65535 },
      protocol: { type: "string", enum: ["TCP", "UDP", "SCTP"] },
    },
  };
  const peer: Schema = {
    type: "object",
    additionalProperties: false,
    minProperties: 1,
    properties: {
      ipBlock: {
        type: "object",
        additionalProperties: false,
        required: ["cidr"],
        properties: { cidr: { type: "string", minLength: 1 }, except: { type: "array", items: { type: "string" } } },
      },
      namespaceSelector: { type: "object" },
      podSelector: { type: "object" },
    },
  };
  return {
    type: "array",
    items: {
      type: "object",
      additionalProperties: false,
      minProperties: 1,
      properties: { to: { type: "array", items: peer }, ports: { type: "array", items: port } },
    },
    description:
      "More egress rules of the controller's NetworkPolicy, as a NetworkPolicy spells them. It opens DNS, the API server (443, 6443) and S3 on 443 only; an S3 endpoint on another port (MinIO's 9000) needs one, e.g. `[{to: [{ipBlock: {cidr: 10.0.5.0/24}}], ports: [{port: 9000}]}]`.",
    default: [],
  };
}

function withProperties(schema: Schema, more: Record<string, Schema>): Schema {
  return { ...schema, properties: { ...schema.properties, ...more } };
}

function certificateValues(): Schema {
  return {
    type: "object",
    description: "Where the webhook's serving certificate and the API server's CA bundle come from.",
    additionalProperties: false,
    properties: {
      source: {
        type: "string",
        enum: ["cert-manager", "secret"],
        description:
          "`cert-manager` issues it (cert-manager must run in the cluster); `secret` uses an existing `kubernetes.io/tls` Secret.",
        default: "cert-manager",
      },
      certManager: {
        type: "object",
        additionalProperties: false,
        properties: {
          issuerRef: {
            type: "object",
            description:
              "An Issuer or ClusterIssuer that signs the certificate; with no name the chart makes a private CA of its own.",
            additionalProperties: false,
            properties: {
              name: { type: "string", description: "Issuer name; empty for the chart's own CA.", default: "" },
              kind: {
                type: "string",
                enum: ["Issuer", "ClusterIssuer"],
                description: "`Issuer` (in the release's namespace) or `ClusterIssuer`.",
                default: "Issuer",
              },
              group: {
                type: "string",
                minLength: 1,
                description: "The issuer's API group.",
                default: "cert-manager.io",
              },
            },
          },
        },
      },
      secret: {
        type: "object",
        additionalProperties: false,
        properties: {
          name: {
            type: "string",
            pattern: `(${DNS_SUBDOMAIN})|^$`,
            description:
              "With `source: secret`: the `kubernetes.io/tls` Secret in the release's namespace, for the Service's DNS names.",
            default: "",
          },
          caBundle: {
            type: "string",
            pattern: "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
            description:
              "With `source: secret`: the base64 PEM of the CA that signed it, for the webhook configurations.",
            default: "",
          },
        },
      },
    },
    // An existing Secret needs both its name and its CA.
    if: { properties: { source: { const: "secret" } } },
    then: {
      properties: {
        secret: {
          required: ["name", "caBundle"],
          properties: { name: { minLength: 1 }, caBundle: { minLength: 1 } },
        },
      },
    },
  };
}

/** The default of every leaf, nested as values.yaml holds them. */
export function defaultsOf(schema: Schema): unknown {
  if ("default" in schema || !schema.properties) return schema.default;
  return Object.fromEntries(
    Object.entries(schema.properties)
      .map(([k, s]): [string, unknown] => [k, defaultsOf(s)])
      .filter(([, v]) => v !== undefined),
  );
}

/** values.yaml: the defaults, each key preceded by its description as a comment. */
export function valuesYaml(schema: Schema, header: string): string {
  const doc = new Document(defaultsOf(schema));
  comment(doc.contents as YAMLMap, schema, true);
  // The header's blank line already separates the first key.
  const first = (doc.contents as YAMLMap).items[0]?.key;
  if (isScalar(first)) first.spaceBefore = false;
  doc.commentBefore = header;
  return doc.toString({ lineWidth: 0 });
}

function comment(map: YAMLMap, schema: Schema, topLevel: boolean): void {
  for (const pair of map.items) {
    if (!isScalar(pair.key)) continue;
    const sub = schema.properties?.[String(pair.key.value)];
    if (!sub) continue;
    if (sub.description) pair.key.commentBefore = ` ${sub.description}`;
    if (topLevel) pair.key.spaceBefore = true;
    if (isMap(pair.value) && !("default" in sub)) comment(pair.value, sub, false);
  }
}
