import type { Json } from "../../runtime/writer.js";
import { createHash } from "node:crypto";
import type {
  V1Affinity,
  V1Container,
  V1EnvVar,
  V1Pod,
  V1Probe,
  V1ResourceRequirements,
  V1SecurityContext,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import {
  DATA_VOLUME,
  DESCRIPTIVE_LABELS,
  HTTP_PORT,
  HTTP_TLS_VOLUME,
  LABEL_VERSION,
  versionLabel,
  isOperatorOwnedAnnotation,
  isOperatorOwnedLabel,
  LABEL_ROLE,
  OPERATOR_RQLITE_USER as OPERATOR_USER,
  operatorAuthSecretName,
  RAFT_PORT,
  RQLITE_CONTAINER,
  voterName,
} from "../../../shared/names.js";
import { nodeAddress, type Addressing } from "../../access/clusterView.js";
import type { ClusterView } from "./cluster.js";
import type { DesiredNode } from "./members.js";
import { mergeTemplate } from "../../../shared/template-merge.js";
import { parseImageReference } from "../../../shared/image.js";
import { flagTargetVersion, renderExtraArgs } from "../../../shared/rqlited-flags.js";
import {
  backupAnnotations,
  backupArgs,
  backupEnv,
  backupVolume,
  restores,
  restoreStartupProbe,
} from "../backup/render.js";

export const DATA_DIR = "/rqlite/file";
const AUTH_DIR = "/rqlite/auth";
const HTTP_TLS_DIR = "/rqlite/tls/http";
const NODE_TLS_DIR = "/rqlite/tls/node";

export const SPEC_HASH_ANNOTATION = "rqlite.io/spec-hash";
export const BOOTSTRAP_EXPECT_ANNOTATION = "rqlite.io/bootstrap-expect";
export const AUTH_HASH_ANNOTATION = "rqlite.io/auth-hash";

export interface PodInputs {
  member: DesiredNode;
  /** Voter count the cluster was first created with; kept so that scaling never rolls pods. */
  bootstrapExpect: number;
  /** The user's pod template (spec.podTemplate or the ConfigMap's), an RFC 7396 merge patch. */
  template?: Record<string, unknown>;
  addressing: Addressing;
  /** Digest of the -auth users file: a change restarts the Pods, as rqlited reads it at start. */
  authHash?: string;
  /**
   * spec.restore is still to be loaded (see ../backup/plan.ts restorePending): a founding voter's
   * Pod then starts with -auto-restore and a startup probe sized for the download.
   */
  restorePending?: boolean;
}

/** This Pod loads spec.restore at its start. */
const restoring = (c: ClusterView, inputs: PodInputs) =>
  restores(c, inputs.member, inputs.bootstrapExpect, inputs.restorePending === true);

export function rqlitedArgs(c: ClusterView, inputs: PodInputs): string[] {
  const { member, addressing } = inputs;
  const self = nodeAddress(c, member.name, addressing);
  const args = [
    `-node-id=${member.name}`,
    `-http-addr=${addressing.kind === "dns" ? "0.0.0.0" : self}:${HTTP_PORT}`,
    `-http-adv-addr=${self}:${HTTP_PORT}`,
    `-raft-addr=${addressing.kind === "dns" ? "0.0.0.0" : self}:${RAFT_PORT}`,
    `-raft-adv-addr=${self}:${RAFT_PORT}`,
  ];
  if (addressing.kind === "dns") {
    args.push(
      "-disco-mode=dns",
      `-disco-config=${JSON.stringify({ name: `${c.headlessService}.${c.namespace}.svc.${addressing.clusterDomain}`, port: RAFT_PORT })}`,
    );
  } else {
    const peers = Array.from(
      { length: inputs.bootstrapExpect },
      (_, i) => `${addressing.addressOf(c.namespace, voterName(c.name, i))}:${RAFT_PORT}`,
    );
    args.push(`-join=${peers.join(",")}`);
  }
  if (member.role === "voter") args.push(`-bootstrap-expect=${inputs.bootstrapExpect}`);
  else args.push("-raft-non-voter=true");
  args.push("-join-interval=1s", "-join-attempts=300");
  // Joining nodes sign in too; the operator's system user (see reconcile/auth.ts) may join.
  if (c.spec.auth?.secretName) args.push(`-auth=${AUTH_DIR}/users.json`, `-join-as=${OPERATOR_USER}`);
  if (c.spec.tls?.http?.secretName) {
    args.push(`-http-cert=${HTTP_TLS_DIR}/tls.crt`, `-http-key=${HTTP_TLS_DIR}/tls.key`);
  }
  if (c.spec.tls?.node?.secretName) {
    args.push(
      `-node-cert=${NODE_TLS_DIR}/tls.crt`,
      `-node-key=${NODE_TLS_DIR}/tls.key`,
      `-node-ca-cert=${NODE_TLS_DIR}/ca.crt`,
      // Mutual TLS: a node must show a certificate from the same CA, so nothing outside the
      // cluster can speak Raft to it even where no NetworkPolicy is enforced.
      "-node-verify-client",
    );
  }
  // A flag rqlite renamed is passed under the name the image's version knows (-raft-timeout
  // became -raft-heartbeat-timeout in 10.0.0), so extraArgs survive an upgrade across it.
  const imageTag = parseImageReference(c.spec.image)?.tag;
  args.push(...backupArgs(c, restoring(c, inputs)));
  args.push(...renderExtraArgs(c.spec.extraArgs ?? [], flagTargetVersion(imageTag)), `${DATA_DIR}/data`);
  return args;
}

function antiAffinity(c: ClusterView): V1Affinity | undefined {
  const term = { labelSelector: { matchLabels: c.selector }, topologyKey: c.spec.affinity.topologyKey };
  switch (c.spec.affinity.podAntiAffinity) {
    case "Required":
      return { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } };
    case "Preferred":
      return {
        podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] },
      };
    default:
      return undefined;
  }
}

function secretVolumes(c: ClusterView, inputs: PodInputs): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const wanted: Array<[string, string | undefined, string]> = [
    ["auth", c.spec.auth?.secretName ? operatorAuthSecretName(c.name) : undefined, AUTH_DIR],
    [HTTP_TLS_VOLUME, c.spec.tls?.http?.secretName, HTTP_TLS_DIR],
    ["tls-node", c.spec.tls?.node?.secretName, NODE_TLS_DIR],
  ];
  const present = wanted.filter((w): w is [string, string, string] => Boolean(w[1]));
  const backup = backupVolume(c, restoring(c, inputs));
  return {
    volumes: [...present.map(([name, secretName]) => ({ name, secret: { secretName } })), ...backup.volumes],
    mounts: [...present.map(([name, , mountPath]) => ({ name, mountPath, readOnly: true })), ...backup.mounts],
  };
}

function rqliteContainer(c: ClusterView, inputs: PodInputs, mounts: V1VolumeMount[]): V1Container {
  const scheme = c.spec.tls?.http?.secretName ? "HTTPS" : "HTTP";
  return {
    name: RQLITE_CONTAINER,
    image: c.spec.image,
    imagePullPolicy: c.spec.imagePullPolicy,
    command: ["rqlited"],
    args: rqlitedArgs(c, inputs),
    ports: [
      { name: "http", containerPort: HTTP_PORT, protocol: "TCP" },
      { name: "raft", containerPort: RAFT_PORT, protocol: "TCP" },
    ],
    env: withBackupEnv(backupEnv(c, restoring(c, inputs)), c.spec.env),
    resources: quantitiesAsStrings(c.spec.resources),
    volumeMounts: [{ name: DATA_VOLUME, mountPath: DATA_DIR }, ...mounts],
    // Ready means this node knows a leader and can serve; alive only needs the node itself.
    readinessProbe: {
      httpGet: { path: "/readyz", port: "http", scheme },
      periodSeconds: 5,
      timeoutSeconds: 2,
      failureThreshold: 3,
    },
    livenessProbe: LIVENESS(scheme),
    ...(restoring(c, inputs)
      ? { startupProbe: restoreStartupProbe(LIVENESS_PATH, scheme, livenessBudgetSeconds(LIVENESS(scheme))) }
      : {}),
    securityContext: { ...RESTRICTED_CONTAINER, readOnlyRootFilesystem: true },
  };
}

const LIVENESS_PATH = "/readyz?noleader";
const LIVENESS = (scheme: "HTTP" | "HTTPS"): V1Probe => ({
  httpGet: { path: LIVENESS_PATH, port: "http", scheme },
  initialDelaySeconds: 10,
  periodSeconds: 10,
  timeoutSeconds: 2,
  failureThreshold: 6,
});

/** How long a process that never answers lives under a liveness probe: about 70 s here. */
export const livenessBudgetSeconds = (p: V1Probe): number =>
  (p.initialDelaySeconds ?? 0) + (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3);

/** Without backups the list stays exactly the user's, so existing Pods keep their hash. */
const withBackupEnv = (backup: V1EnvVar[], user: V1EnvVar[] | undefined) =>
  backup.length > 0 ? [...backup, ...(user ?? [])] : user;

/**
 * The "restricted" Pod Security Standard's container settings, which containers a template adds
 * start from too: the operator creates them, so they must not get more than rqlite does. The
 * template may tighten them (the webhook and shared/pod-template-policy.ts refuse loosening).
 */
/** rqlite needs no privileges, so its Pods pass the "restricted" Pod Security Standard. */
export const RQLITE_SECURITY_CONTEXT = {
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 1000,
  fsGroup: 1000,
  seccompProfile: { type: "RuntimeDefault" },
};

export const RESTRICTED_CONTAINER = { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } };

/** Quantities are int-or-string in the schema; the Pod API types want strings. */
function quantitiesAsStrings(r: ClusterView["spec"]["resources"]): V1ResourceRequirements {
  const strings = (m?: Record<string, string | number>) =>
    m && Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)]));
  return { ...r, limits: strings(r.limits), requests: strings(r.requests) };
}

/** The Pod for one member, before the user's template. */
function basePod(c: ClusterView, inputs: PodInputs): V1Pod {
  const { volumes, mounts } = secretVolumes(c, inputs);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: inputs.member.name,
      namespace: c.namespace,
      labels: { ...c.selector, [LABEL_ROLE]: inputs.member.role },
      annotations: {
        [BOOTSTRAP_EXPECT_ANNOTATION]: String(inputs.bootstrapExpect),
        ...(inputs.authHash ? { [AUTH_HASH_ANNOTATION]: inputs.authHash } : {}),
        ...backupAnnotations(c),
      },
      ownerReferences: [c.ownerReference],
    },
    spec: {
      hostname: inputs.member.name,
      subdomain: c.headlessService,
      restartPolicy: "Always",
      // rqlite never calls the Kubernetes API.
      automountServiceAccountToken: false,
      affinity: antiAffinity(c),
      imagePullSecrets: c.spec.imagePullSecrets,
      securityContext: RQLITE_SECURITY_CONTEXT,
      terminationGracePeriodSeconds: 30,
      containers: [rqliteContainer(c, inputs, mounts)],
      volumes: [{ name: DATA_VOLUME, persistentVolumeClaim: { claimName: inputs.member.name } }, ...volumes],
    },
  };
}

/**
 * Applies the user's template (see template.ts), then puts back what the operator owns:
 * admission rejects templates that touch those fields, and this keeps a bypassed webhook
 * harmless.
 */
function applyTemplate(base: V1Pod, template: Json | undefined): V1Pod {
  if (!template) return base;
  const merged = mergeTemplate(base, template) as V1Pod;
  const spec = merged.spec!;
  const generated = base.spec!.containers[0]!;
  spec.containers = spec.containers.map((ct) => {
    if (ct.name !== RQLITE_CONTAINER) return ct;
    const { image, command, args, ports } = generated;
    const dataMount = generated.volumeMounts![0]!;
    return {
      ...ct,
      image,
      command,
      args,
      ports,
      volumeMounts: [dataMount, ...(ct.volumeMounts ?? []).filter((m) => m.name !== DATA_VOLUME)],
    };
  });
  const restricted = (ct: V1Container): V1Container => ({
    ...ct,
    securityContext: mergeTemplate(RESTRICTED_CONTAINER, ct.securityContext ?? {}) as V1SecurityContext,
  });
  spec.containers = spec.containers.map((ct) => (ct.name === RQLITE_CONTAINER ? ct : restricted(ct)));
  if (spec.initContainers) spec.initContainers = spec.initContainers.map(restricted);
  spec.automountServiceAccountToken = false;
  spec.volumes = [base.spec!.volumes![0]!, ...(spec.volumes ?? []).filter((v) => v.name !== DATA_VOLUME)];
  spec.hostname = base.spec!.hostname;
  spec.subdomain = base.spec!.subdomain;
  spec.restartPolicy = base.spec!.restartPolicy;
  merged.metadata = {
    ...merged.metadata,
    name: base.metadata!.name,
    namespace: base.metadata!.namespace,
    ownerReferences: base.metadata!.ownerReferences,
    labels: { ...withoutKeys(merged.metadata?.labels, isOperatorOwnedLabel), ...base.metadata!.labels },
    // rqlite.io/ annotations record what the operator decided (bootstrap-expect above all), so
    // the template's are dropped and the generated ones, even ones it set to null, put back.
    annotations: {
      ...withoutKeys(merged.metadata?.annotations, isOperatorOwnedAnnotation),
      ...base.metadata!.annotations,
    },
  };
  return merged;
}

function withoutKeys(map: Record<string, string> | undefined, owned: (key: string) => boolean): Record<string, string> {
  return Object.fromEntries(Object.entries(map ?? {}).filter(([k]) => !owned(k)));
}

/** A stable digest of what the Pod should run; a change means the Pod must be replaced. */
export function podSpecHash(pod: V1Pod): string {
  const { labels, annotations } = pod.metadata ?? {};
  return createHash("sha256")
    .update(canonicalJson({ labels, annotations, spec: pod.spec }))
    .digest("hex")
    .slice(0, 16);
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Json)
            .filter(([, x]) => x !== undefined)
            .sort(([a], [b]) => (a < b ? -1 : 1)),
        )
      : v,
  );
}

export function renderPod(c: ClusterView, inputs: PodInputs): V1Pod {
  const pod = applyTemplate(basePod(c, inputs), inputs.template);
  // The restore's parts count for nothing in the hash: a founding voter's Pod has them on its
  // first start only, and one made with them is as current as one made without, so the end of
  // a restore rolls no Pod.
  const steady = restoring(c, inputs)
    ? applyTemplate(basePod(c, { ...inputs, restorePending: false }), inputs.template)
    : pod;
  pod.metadata!.annotations = { ...pod.metadata!.annotations, [SPEC_HASH_ANNOTATION]: podSpecHash(steady) };
  pod.metadata!.labels = withDescriptiveLabels(c, pod.metadata!.labels ?? {}, c.spec.image);
  return pod;
}

/**
 * The recommended labels that only describe a Pod, added after its hash is taken: Pods made
 * before the operator set them keep their hash and get them in place, without a roll. A
 * template's own component or part-of stays; the version is always that of `image`, the image
 * the Pod runs (an upgrade replaces the Pod, so it never changes in place).
 */
export function withDescriptiveLabels(
  c: ClusterView,
  labels: Record<string, string>,
  image: string | undefined,
): Record<string, string> {
  const descriptive = Object.fromEntries(
    Object.entries(c.labels).filter(([k]) => DESCRIPTIVE_LABELS.includes(k) && k !== LABEL_VERSION),
  );
  return { ...descriptive, ...labels, ...versionLabel(image) };
}
