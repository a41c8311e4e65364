// The chart's templates/ from the kustomize renders: deploy/base's objects, the certificate
// objects that certs/ adds in deploy/default, and the monitoring objects deploy/monitoring adds.
// Each object keeps what deploy/ says; only what a value decides becomes template text.
import { type K8sObject } from "../kustomize.js";
import { BASE_NAMESPACE, insertKey, onlyIf, pad, replaceKey, Templater } from "./templating.js";
import { CONTROLLER_FLAGS, podSpecOf } from "./values.js";

/** What the kustomize overlays install, split by the overlay that adds them. */
export interface Overlays {
  base: K8sObject[];
  /** deploy/default minus deploy/base: cert-manager's objects. */
  certManager: K8sObject[];
  /** deploy/monitoring minus deploy/default. */
  monitoring: K8sObject[];
}

type Obj = Record<string, unknown>;

const CERT = ".Values.webhook.certificate";
const FROM_CERT_MANAGER = `eq ${CERT}.source "cert-manager"`;
const FROM_SECRET = `eq ${CERT}.source "secret"`;
const ISSUER_REF = `${CERT}.certManager.issuerRef`;
/** cert-manager without an issuer of the user's: the chart's own CA chain, as certs/ installs it. */
const OWN_CA = `and (${FROM_CERT_MANAGER}) (not ${ISSUER_REF}.name)`;
const INJECT_CA = "cert-manager.io/inject-ca-from";
const KEEP = "helm.sh/resource-policy";

/** Values key of each of the operator's Deployments (and their PodDisruptionBudgets). */
const COMPONENTS: Record<string, "controller" | "webhook"> = {
  "rqlite-operator-controller": "controller",
  "rqlite-operator-webhook": "webhook",
};

function componentOf(o: K8sObject): "controller" | "webhook" {
  const c = COMPONENTS[o.metadata.name];
  if (!c)
    throw new Error(
      `${o.kind} ${o.metadata.name}: not one of the chart's components (${Object.keys(COMPONENTS).join(", ")})`,
    );
  return c;
}

interface Container {
  name: string;
  args?: string[];
  env?: Obj[];
  [field: string]: unknown;
}

/** Standard Helm labels on every object, after deploy/'s own. */
function labelled(t: Templater, o: K8sObject): void {
  o.metadata.labels = { ...o.metadata.labels, [t.include("rqlite-operator.labels")]: null } as Record<string, string>;
}

function deployment(t: Templater, o: K8sObject): string {
  const c = componentOf(o);
  const v = `.Values.${c}`;
  const spec = o.spec as Obj;
  spec.replicas = t.value(`${v}.replicas`);
  const podMeta = (spec.template as { metadata: { annotations?: Obj; labels?: Obj } }).metadata;
  podMeta.annotations = { ...podMeta.annotations, [t.entries(".Values.podAnnotations")]: null };
  podMeta.labels = { ...podMeta.labels, [t.entries(".Values.podLabels")]: null };
  const pod = podSpecOf(o) as unknown as Obj;
  insertKey(
    pod,
    "containers",
    t.when(".Values.priorityClassName", "priorityClassName", t.value(".Values.priorityClassName | quote")),
    null,
  );
  // values.yaml defaults these from deploy/base (hack/helm/values.ts), so a key deploy/base sets
  // is replaced by its value, and one it leaves out is added before affinity.
  insertKey(pod, "containers", t.withValue("imagePullSecrets", ".Values.imagePullSecrets"), null);
  for (const key of ["nodeSelector", "tolerations", "affinity"]) {
    const line = t.withValue(key, `${v}.${key}`);
    if (key in pod) replaceKey(pod, key, line, null);
    else insertKey(pod, "affinity", line, null);
  }
  const [container, ...others] = pod.containers as Container[];
  if (!container || others.length) throw new Error(`Deployment ${o.metadata.name}: expected one container`);
  container.image = t.value('include "rqlite-operator.image" .');
  container.imagePullPolicy = t.value(".Values.image.pullPolicy");
  replaceKey(container, "resources", t.withValue("resources", `${v}.resources`), null);
  refuseSetting(
    o,
    (container.env ?? []).some((e) => e.name === "LOG_LEVEL"),
    "LOG_LEVEL",
  );
  container.env = [...(container.env ?? []), { name: "LOG_LEVEL", value: t.value(".Values.logLevel | quote") }];
  s3Settings(t, o, container);
  if (c === "controller") controllerFlags(t, o, container);
  // The chart's own list first, then the user's: for a flag given twice, the last one wins.
  const flagLines = c === "controller" ? tuningFlagLines : () => [];
  replaceKey(container, "env", t.listWithExtra("env", container.env, ".Values.extraEnv"), null);
  if ("args" in container)
    replaceKey(container, "args", t.listWithExtra("args", container.args ?? [], `${v}.extraArgs`, flagLines), null);
  else insertKey(container, "command", t.listWithExtra("args", [], `${v}.extraArgs`, flagLines), null);
  if (c === "webhook") {
    webhookCertVolume(t, pod);
    return t.toTemplate(o);
  }
  // Lease timings the schema cannot relate to each other fail the render with a clear message.
  return `{{- include "rqlite-operator.validate" . }}\n${t.toTemplate(o)}`;
}

/** `- --flag=value` for each controller.flags value that is set (0 included). */
function tuningFlagLines(n: number): string[] {
  return Object.entries(CONTROLLER_FLAGS).flatMap(([key, f]) => [
    `${pad(n)}{{- if not (kindIs "invalid" .Values.controller.flags.${key}) }}`,
    `${pad(n)}- {{ printf "--${f.flag}=%v" .Values.controller.flags.${key} | quote }}`,
    `${pad(n)}{{- end }}`,
  ]);
}

/** Annotations of the ServiceAccount (a cloud identity for the controller's S3 requests). */
function serviceAccount(t: Templater, o: K8sObject): string {
  if (o.metadata.annotations) throw new Error(`ServiceAccount ${o.metadata.name}: deploy/ annotates it already`);
  o.metadata = { ...o.metadata, [t.withValue("annotations", ".Values.serviceAccount.annotations")]: null };
  return t.toTemplate(o);
}

/** The chart sets LOG_LEVEL and the Lease flags from values defaulted to the binaries' own. */
function refuseSetting(o: K8sObject, present: boolean, setting: string): void {
  if (present) {
    throw new Error(
      `deploy/base's ${o.metadata.name} sets ${setting}, which the chart also sets from a value: default that value from deploy/base in hack/helm/values.ts and template the existing setting instead`,
    );
  }
}

/** Both components judge S3 endpoints and ambient credentials: one value sets both. */
const S3_SETTINGS = {
  S3_ENDPOINT_ALLOW: "endpointAllow",
  AMBIENT_CREDENTIALS_NAMESPACES: "ambientCredentialsNamespaces",
};

function s3Settings(t: Templater, o: K8sObject, container: Container): void {
  for (const [name, value] of Object.entries(S3_SETTINGS)) {
    const env = container.env?.find((e) => e.name === name);
    if (!env) throw new Error(`deploy/base's ${o.metadata.name} has no ${name} to template`);
    env.value = t.value(`join "," .Values.s3.${value} | quote`);
  }
}

const LEASE_FLAGS = {
  "lease-duration": "leaseDuration",
  "renew-deadline": "renewDeadline",
  "retry-period": "retryPeriod",
};

function controllerFlags(t: Templater, o: K8sObject, container: Container): void {
  const watch = container.env?.find((e) => e.name === "WATCH_NAMESPACES");
  if (!watch) throw new Error("the controller container has no WATCH_NAMESPACES to template");
  watch.value = t.value('join "," .Values.watchNamespaces | quote');
  const args = container.args ?? [];
  for (const [flag, value] of Object.entries(LEASE_FLAGS)) {
    refuseSetting(
      o,
      args.some((a) => a.startsWith(`--${flag}`)),
      `--${flag}`,
    );
    args.push(t.text(`--${flag}={{ .Values.leaderElection.${value} }}`));
  }
  container.args = args;
}

/** The serving certificate's volume: cert-manager's Secret as deploy/ names it, or the user's own. */
function webhookCertVolume(t: Templater, pod: Obj): void {
  const secrets = ((pod.volumes ?? []) as { secret?: { secretName: string } }[]).filter((v) => v.secret);
  if (secrets.length !== 1)
    throw new Error(`the webhook Deployment mounts ${secrets.length} Secrets, expected its serving certificate alone`);
  const secret = secrets[0]!.secret!;
  const suffix = secret.secretName.replace(/^rqlite-operator-/, "");
  if (suffix === secret.secretName)
    throw new Error(`the serving Secret ${secret.secretName} is not a rqlite-operator- name`);
  const chartsOwn = `(printf "%s-${suffix}" (include "rqlite-operator.fullname" .))`;
  secret.secretName = t.value(`ternary ${CERT}.secret.name ${chartsOwn} (${FROM_SECRET}) | quote`);
}

/** The controller's NetworkPolicy, whose egress a value extends. */
const CONTROLLER_POLICY = "rqlite-operator-controller";

/**
 * deploy/ opens egress for DNS, the API server and S3 on 443; an S3 endpoint elsewhere (MinIO's
 * 9000, a gateway inside the cluster) is reached only through rules the user adds here.
 */
function controllerNetworkPolicy(t: Templater, o: K8sObject): string {
  const spec = o.spec as { egress?: unknown[] } & Obj;
  if (!spec.egress) throw new Error(`NetworkPolicy ${o.metadata.name}: deploy/ gives it no egress rules to extend`);
  replaceKey(spec, "egress", t.listWithExtra("egress", spec.egress, ".Values.controller.extraEgress"), null);
  return t.toTemplate(o);
}

function webhookConfiguration(t: Templater, o: K8sObject): string {
  const { [INJECT_CA]: injected, ...annotations } = o.metadata.annotations ?? {};
  if (!injected) throw new Error(`${o.kind} ${o.metadata.name}: deploy/default has no ${INJECT_CA} annotation on it`);
  o.metadata.annotations = { ...annotations, [t.when(FROM_CERT_MANAGER, INJECT_CA, injected)]: null } as Record<
    string,
    string
  >;
  for (const w of o.webhooks as ({ failurePolicy: string; clientConfig: Obj } & Obj)[]) {
    if ("namespaceSelector" in w) throw new Error(`${o.kind} ${o.metadata.name}: deploy/ scopes a webhook already`);
    w.failurePolicy = t.value(".Values.webhook.failurePolicy");
    w.clientConfig[t.when(FROM_SECRET, "caBundle", t.value(`${CERT}.secret.caBundle`))] = null;
    // A release that watches some namespaces judges only those, so that another release's
    // tenants never wait on (or are refused by) this release's webhook.
    w[watchedNamespacesOnly(t)] = null;
  }
  return t.toTemplate(o);
}

function watchedNamespacesOnly(t: Templater): string {
  return t.line((n) =>
    [
      `${pad(n)}{{- with .Values.watchNamespaces }}`,
      `${pad(n)}namespaceSelector:`,
      `${pad(n + 2)}matchExpressions:`,
      `${pad(n + 4)}- key: kubernetes.io/metadata.name`,
      `${pad(n + 6)}operator: In`,
      `${pad(n + 6)}values: {{ toJson . }}`,
      `${pad(n)}{{- end }}`,
    ].join("\n"),
  );
}

/** The serving Certificate signs with the user's issuer when one is named, else the chart's CA. */
function servingCertificate(t: Templater, o: K8sObject): string {
  const spec = o.spec as Obj;
  const users = {
    group: t.value(`${ISSUER_REF}.group`),
    kind: t.value(`${ISSUER_REF}.kind`),
    name: t.value(`${ISSUER_REF}.name`),
  };
  replaceKey(spec, "issuerRef", t.when(`${ISSUER_REF}.name`, "issuerRef", users, spec.issuerRef), null);
  return onlyIf(FROM_CERT_MANAGER, t.toTemplate(o));
}

function crd(t: Templater, o: K8sObject): string {
  o.metadata.annotations = { ...o.metadata.annotations, [t.when(".Values.crds.keep", KEEP, "keep")]: null } as Record<
    string,
    string
  >;
  return onlyIf(".Values.crds.install", t.toTemplate(o));
}

function monitoringObject(t: Templater, o: K8sObject): string {
  if (o.kind === "ServiceMonitor" || o.kind === "PrometheusRule") {
    const extra = t.line(
      (n) => `${" ".repeat(n)}{{- with .Values.monitoring.labels }}{{- toYaml . | nindent ${n} }}{{- end }}`,
    );
    o.metadata.labels = { ...o.metadata.labels, [extra]: null } as Record<string, string>;
  }
  return onlyIf(".Values.monitoring.enabled", t.toTemplate(o));
}

/** The webhook's serving certificate Secret, as deploy/base mounts it. */
function servingSecretName(base: K8sObject[]): string {
  const webhook = base.find((o) => o.kind === "Deployment" && componentOf(o) === "webhook");
  const volume = (
    (webhook?.spec as { template: { spec: { volumes?: { secret?: { secretName: string } }[] } } })?.template.spec
      .volumes ?? []
  ).find((v) => v.secret);
  if (!volume) throw new Error("deploy/base's webhook Deployment mounts no serving certificate Secret");
  return volume.secret!.secretName;
}

type Origin = keyof Overlays;

function templateOf(o: K8sObject, origin: Origin, servingSecret: string): string {
  const t = new Templater();
  labelled(t, o);
  if (origin === "monitoring") return monitoringObject(t, o);
  if (origin === "certManager") {
    const serving = o.kind === "Certificate" && (o.spec as { secretName: string }).secretName === servingSecret;
    return serving ? servingCertificate(t, o) : onlyIf(OWN_CA, t.toTemplate(o));
  }
  switch (o.kind) {
    case "CustomResourceDefinition":
      return crd(t, o);
    case "Deployment":
      return deployment(t, o);
    case "ServiceAccount":
      return serviceAccount(t, o);
    case "PodDisruptionBudget":
      // One replica with minAvailable 1 would block every node drain.
      return onlyIf(`gt (int .Values.${componentOf(o)}.replicas) 1`, t.toTemplate(o));
    case "MutatingWebhookConfiguration":
    case "ValidatingWebhookConfiguration":
      return webhookConfiguration(t, o);
    case "NetworkPolicy":
      return o.metadata.name === CONTROLLER_POLICY ? controllerNetworkPolicy(t, o) : t.toTemplate(o);
    default:
      return t.toTemplate(o);
  }
}

function fileName(o: K8sObject): string {
  const short =
    o.kind === "CustomResourceDefinition"
      ? o.metadata.name.split(".")[0]!
      : o.metadata.name.replace(/^rqlite-operator-?/, "");
  return `${o.kind.toLowerCase()}${short ? `-${short}` : ""}.yaml`;
}

/**
 * templates/<kind>-<name>.yaml for every object but the Namespace: Helm installs into the
 * release's namespace, which the user creates (README: with the restricted Pod Security label).
 */
export function renderTemplates(overlays: Overlays, notice: string): Record<string, string> {
  const servingSecret = servingSecretName(overlays.base);
  const files: Record<string, string> = {};
  for (const [origin, objects] of Object.entries(overlays) as [Origin, K8sObject[]][]) {
    for (const o of objects) {
      if (o.kind === "Namespace") {
        if (o.metadata.name !== BASE_NAMESPACE)
          throw new Error(`deploy/ has a Namespace ${o.metadata.name} the chart cannot place`);
        continue;
      }
      const name = `templates/${fileName(o)}`;
      if (name in files) throw new Error(`two objects would both be written to ${name}`);
      files[name] = `# ${notice}\n${templateOf(structuredClone(o), origin, servingSecret)}\n`;
    }
  }
  return files;
}
