// The pod template allow-list: what a tenant who may create only RqClusters and ConfigMaps could
// otherwise get the operator's ServiceAccount to create for them.
import { strict as assert } from "node:assert";
import { formatFieldError } from "../../../shared/field-errors.js";
import { validatePodTemplate } from "../../../shared/pod-template.js";

const check = (spec: unknown) => validatePodTemplate({ spec }, "spec.podTemplate").map(formatFieldError);
const fields = (spec: unknown) => check(spec).map((e) => e.split(": ")[0]);

describe("pod template allow-list", () => {
  it("refuses another identity and an API token", () => {
    assert.deepEqual(check({ serviceAccountName: "cluster-admin-sa", automountServiceAccountToken: true }), [
      "spec.podTemplate.spec.serviceAccountName: Forbidden: rqlite Pods run as the namespace's default ServiceAccount with no API token; a template may not choose the identity Pods the operator creates run as",
      "spec.podTemplate.spec.automountServiceAccountToken: Forbidden: is set by the operator (false): rqlite needs no Kubernetes API access",
    ]);
    const tokenVolume = {
      volumes: [{ name: "t", projected: { sources: [{ serviceAccountToken: { path: "token", audience: "api" } }] } }],
    };
    assert.deepEqual(fields(tokenVolume), [
      "spec.podTemplate.spec.volumes[0].projected.sources[0].serviceAccountToken",
    ]);
  });

  it("refuses host namespaces, host paths, host ports and pinning a node", () => {
    assert.deepEqual(
      fields({
        hostNetwork: true,
        hostPID: true,
        hostIPC: true,
        hostUsers: true,
        nodeName: "n1",
        containers: [{ name: "rqlite", volumeMounts: [{ name: "root", mountPath: "/host" }] }],
        volumes: [{ name: "root", hostPath: { path: "/" } }],
        initContainers: [{ name: "i", image: "busybox", ports: [{ containerPort: 80, hostPort: 80 }] }],
      }),
      [
        "spec.podTemplate.spec.hostNetwork",
        "spec.podTemplate.spec.hostPID",
        "spec.podTemplate.spec.hostIPC",
        "spec.podTemplate.spec.nodeName",
        "spec.podTemplate.spec.hostUsers",
        "spec.podTemplate.spec.initContainers[0].ports[0].hostPort",
        "spec.podTemplate.spec.volumes[0].hostPath",
      ],
    );
  });

  it("refuses privilege in every container, the rqlite one, sidecars and init containers", () => {
    const loose = {
      privileged: true,
      allowPrivilegeEscalation: true,
      readOnlyRootFilesystem: false,
      runAsUser: 0,
      capabilities: { add: ["SYS_ADMIN"], drop: ["NET_RAW"] },
      seccompProfile: { type: "Unconfined" },
      procMount: "Unmasked",
      seLinuxOptions: { type: "spc_t" },
    };
    const at = (list: string, i: number) =>
      [
        "seLinuxOptions",
        "privileged",
        "allowPrivilegeEscalation",
        "readOnlyRootFilesystem",
        "procMount",
        "runAsUser",
        "capabilities.add",
        "capabilities.drop",
        "seccompProfile",
      ].map((f) => `spec.podTemplate.spec.${list}[${i}].securityContext.${f}`);
    assert.deepEqual(
      fields({
        containers: [
          { name: "rqlite", securityContext: loose },
          { name: "side", image: "x", securityContext: loose },
        ],
        initContainers: [{ name: "init", image: "x", securityContext: loose }],
      }),
      [...at("containers", 0), ...at("containers", 1), ...at("initContainers", 0)],
    );
    assert.deepEqual(
      fields({ securityContext: { runAsNonRoot: false, runAsUser: 0, supplementalGroups: [0], sysctls: [] } }),
      [
        "spec.podTemplate.spec.securityContext.sysctls",
        "spec.podTemplate.spec.securityContext.runAsNonRoot",
        "spec.podTemplate.spec.securityContext.runAsUser",
        "spec.podTemplate.spec.securityContext.supplementalGroups",
      ],
    );
  });

  it("refuses removing the operator's security settings with null", () => {
    assert.deepEqual(
      fields({
        securityContext: { runAsNonRoot: null },
        containers: [{ name: "rqlite", securityContext: { capabilities: null, allowPrivilegeEscalation: null } }],
      }),
      [
        "spec.podTemplate.spec.securityContext.runAsNonRoot",
        "spec.podTemplate.spec.containers[0].securityContext.allowPrivilegeEscalation",
        "spec.podTemplate.spec.containers[0].securityContext.capabilities",
      ],
    );
  });

  it("refuses fields off the list, such as another runtime or a shared process namespace", () => {
    assert.deepEqual(
      fields({
        runtimeClassName: "runc-unconfined",
        shareProcessNamespace: true,
        activeDeadlineSeconds: 10,
        containers: [{ name: "side", image: "x", volumeDevices: [{ name: "d", devicePath: "/dev/x" }] }],
        volumes: [{ name: "n", nfs: { server: "s", path: "/" } }],
      }),
      [
        "spec.podTemplate.spec.runtimeClassName",
        "spec.podTemplate.spec.shareProcessNamespace",
        "spec.podTemplate.spec.activeDeadlineSeconds",
        "spec.podTemplate.spec.containers[0].volumeDevices",
        "spec.podTemplate.spec.volumes[0].nfs",
      ],
    );
  });

  it("accepts what users need, and security settings that tighten", () => {
    assert.deepEqual(
      check({
        nodeSelector: { disk: "ssd" },
        affinity: { nodeAffinity: {} },
        tolerations: [{ key: "dedicated", operator: "Exists" }],
        topologySpreadConstraints: [
          { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "DoNotSchedule" },
        ],
        priorityClassName: "db",
        hostUsers: false,
        securityContext: {
          runAsUser: 2000,
          fsGroup: 2000,
          seccompProfile: { type: "Localhost", localhostProfile: "p" },
        },
        containers: [
          {
            name: "rqlite",
            env: [{ name: "TZ", value: "UTC" }],
            resources: { limits: { memory: "1Gi" } },
            securityContext: { capabilities: { drop: ["ALL"] }, runAsUser: 2000 },
          },
          {
            name: "exporter",
            image: "exporter:1",
            ports: [{ containerPort: 9100 }],
            securityContext: { capabilities: { add: ["NET_BIND_SERVICE"] } },
            volumeMounts: [{ name: "cfg", mountPath: "/etc/x" }],
          },
        ],
        initContainers: [{ name: "wait", image: "busybox", command: ["true"] }],
        volumes: [
          { name: "cfg", configMap: { name: "c" } },
          { name: "s", secret: { secretName: "s" } },
          { name: "e", emptyDir: {} },
          { name: "p", projected: { sources: [{ configMap: { name: "c" } }] } },
          { name: "pvc", persistentVolumeClaim: { claimName: "backup" } },
        ],
      }),
      [],
    );
  });
});
