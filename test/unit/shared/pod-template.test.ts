import { strict as assert } from "node:assert";
import { formatFieldError } from "../../../shared/field-errors.js";
import { validatePodTemplate, validatePodTemplateConfigMap } from "../../../shared/pod-template.js";

const check = (template: unknown) => validatePodTemplate(template, "spec.podTemplate").map(formatFieldError);
const checkCm = (cm: unknown) => validatePodTemplateConfigMap(cm).map(formatFieldError);

describe("pod templates", () => {
  it("accepts a realistic template", () => {
    assert.deepEqual(
      check({
        metadata: {
          labels: { team: "db", "app.kubernetes.io/version": "10" },
          annotations: { "prometheus.io/scrape": "true" },
        },
        spec: {
          nodeSelector: { disk: "ssd" },
          tolerations: [{ key: "dedicated", operator: "Equal", value: "db", effect: "NoSchedule" }],
          priorityClassName: "high",
          securityContext: { fsGroup: 1000, runAsNonRoot: true },
          terminationGracePeriodSeconds: 60,
          affinity: null,
          containers: [
            {
              name: "rqlite",
              resources: { limits: { memory: "2Gi" } },
              readinessProbe: { periodSeconds: 5 },
              volumeMounts: [{ name: "backup", mountPath: "/backup" }],
              env: [{ name: "TZ", value: "UTC" }],
            },
            {
              name: "backup",
              image: "busybox:1.36",
              args: ["sleep", "infinity"],
              volumeMounts: [{ name: "data", mountPath: "/data", readOnly: true }],
            },
          ],
          initContainers: [{ name: "init", image: "busybox", command: ["true"] }],
          volumes: [{ name: "backup", emptyDir: { sizeLimit: "1Gi" } }],
        },
      }),
      [],
    );
  });

  it("rejects what the operator owns, with the field path", () => {
    assert.deepEqual(
      check({
        metadata: {
          name: "x",
          namespace: "y",
          ownerReferences: [],
          labels: {
            "rqlite.io/role": "voter",
            "app.kubernetes.io/instance": "x",
            "app.kubernetes.io/name": "x",
            "app.kubernetes.io/managed-by": "me",
          },
        },
        spec: {
          hostname: "h",
          subdomain: "s",
          restartPolicy: "Always",
          containers: [
            {
              name: "rqlite",
              image: "i",
              command: ["c"],
              args: ["a"],
              ports: [{ containerPort: 1 }],
              volumeMounts: [{ name: "data", mountPath: "/elsewhere" }],
            },
          ],
          volumes: [{ name: "data", emptyDir: {} }],
        },
      }).filter((e) => e.includes("Forbidden")),
      [
        "spec.podTemplate.metadata.name: Forbidden: set by the operator",
        "spec.podTemplate.metadata.namespace: Forbidden: set by the operator",
        "spec.podTemplate.metadata.ownerReferences: Forbidden: set by the operator",
        "spec.podTemplate.metadata.labels[rqlite.io/role]: Forbidden: set by the operator: its selectors depend on this label",
        "spec.podTemplate.metadata.labels[app.kubernetes.io/instance]: Forbidden: set by the operator: its selectors depend on this label",
        "spec.podTemplate.metadata.labels[app.kubernetes.io/name]: Forbidden: set by the operator: its selectors depend on this label",
        "spec.podTemplate.metadata.labels[app.kubernetes.io/managed-by]: Forbidden: set by the operator: its selectors depend on this label",
        "spec.podTemplate.spec.hostname: Forbidden: set by the operator",
        "spec.podTemplate.spec.subdomain: Forbidden: set by the operator",
        "spec.podTemplate.spec.restartPolicy: Forbidden: set by the operator",
        "spec.podTemplate.spec.containers[0].image: Forbidden: set by the operator",
        "spec.podTemplate.spec.containers[0].command: Forbidden: set by the operator",
        "spec.podTemplate.spec.containers[0].args: Forbidden: set by the operator",
        "spec.podTemplate.spec.containers[0].ports: Forbidden: set by the operator",
        "spec.podTemplate.spec.containers[0].volumeMounts[0]: Forbidden: the data volume mount is set by the operator",
        "spec.podTemplate.spec.volumes[0]: Forbidden: the data volume is the node's PersistentVolumeClaim, set by the operator",
      ],
    );
  });

  it("rejects the operator's rqlite.io/ annotations", () => {
    assert.deepEqual(
      check({
        metadata: {
          annotations: {
            "rqlite.io/bootstrap-expect": "5",
            "rqlite.io/spec-hash": "x",
            "backup.rqlite.io/schedule": "daily",
            "prometheus.io/scrape": "true",
          },
        },
      }),
      [
        "spec.podTemplate.metadata.annotations[rqlite.io/bootstrap-expect]: Forbidden: set by the operator: annotations under rqlite.io/ are its own",
        "spec.podTemplate.metadata.annotations[rqlite.io/spec-hash]: Forbidden: set by the operator: annotations under rqlite.io/ are its own",
      ],
    );
    const cm = {
      metadata: { name: "tpl", labels: { "rqlite.io/pod-template": "" } },
      data: { "pod-template.json": JSON.stringify({ metadata: { annotations: { "rqlite.io/auth-hash": "x" } } }) },
    };
    assert.deepEqual(checkCm(cm), [
      "data[pod-template.json].metadata.annotations[rqlite.io/auth-hash]: Forbidden: set by the operator: annotations under rqlite.io/ are its own",
    ]);
  });

  it("rejects removing what the operator owns through null", () => {
    assert.deepEqual(check({ spec: { containers: null, volumes: null } }), [
      "spec.podTemplate.spec.containers: Forbidden: would remove the rqlite container",
      "spec.podTemplate.spec.volumes: Forbidden: would remove the data volume, which is set by the operator",
    ]);
    assert.deepEqual(check({ spec: null }), [
      "spec.podTemplate.spec: Forbidden: would remove the Pod spec the operator generates",
    ]);
    assert.deepEqual(check({ spec: { containers: [{ name: "rqlite", volumeMounts: null, image: null }] } }), [
      "spec.podTemplate.spec.containers[0].image: Forbidden: set by the operator",
      "spec.podTemplate.spec.containers[0].volumeMounts: Forbidden: would remove the data volume mount, which is set by the operator",
    ]);
  });

  it("checks types, enums and unknown fields against the real Pod schema", () => {
    assert.deepEqual(
      check({
        spec: {
          dnsPolicy: "Sometimes",
          terminationGracePeriodSeconds: "30",
          nodeSelector: { a: 1 },
          enableServiceLinks: "yes",
          containers: [{ name: "rqlite", imagePullPolcy: "Always", resources: { requests: { cpu: "lots" } } }],
          tolerations: [{ operator: "Maybe" }],
          priority: 2 ** 31,
        },
        extra: {},
      }),
      [
        'spec.podTemplate.extra: Forbidden: unknown field "extra": a pod template holds only metadata and spec',
        'spec.podTemplate.spec.dnsPolicy: Unsupported value: "Sometimes": supported values: "ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"',
        'spec.podTemplate.spec.terminationGracePeriodSeconds: Invalid value: "30": must be of type integer',
        "spec.podTemplate.spec.nodeSelector[a]: Invalid value: 1: must be of type string",
        'spec.podTemplate.spec.enableServiceLinks: Invalid value: "yes": must be of type boolean',
        'spec.podTemplate.spec.containers[0].imagePullPolcy: Forbidden: unknown field "imagePullPolcy" in Container',
        'spec.podTemplate.spec.containers[0].resources.requests[cpu]: Invalid value: "lots": must be a quantity such as 500m, 2 or 1Gi',
        'spec.podTemplate.spec.tolerations[0].operator: Unsupported value: "Maybe": supported values: "Equal", "Exists"',
        "spec.podTemplate.spec.priority: Invalid value: 2147483648: must fit in a 32-bit integer",
        "spec.podTemplate.spec.priority: Forbidden: comes from priorityClassName",
      ],
    );
  });

  it("requires the required fields of what the template adds, not of what it merges into", () => {
    assert.deepEqual(
      check({
        spec: {
          securityContext: { seLinuxOptions: {} },
          containers: [
            {
              name: "rqlite",
              readinessProbe: { periodSeconds: 1 },
              volumeMounts: [{ name: "x" }],
              env: [{ value: "v" }],
            },
            { image: "sidecar" },
            { name: "dup", image: "a" },
            { name: "dup", image: "b" },
          ],
          initContainers: [{ name: "init", env: [{ name: "K", valueFrom: { configMapKeyRef: { name: "c" } } }] }],
          volumes: [
            { name: "empty" },
            { name: "two", emptyDir: {}, secret: { secretName: "s" } },
            { configMap: { name: "c" } },
          ],
        },
      }),
      [
        "spec.podTemplate.spec.containers[0].volumeMounts[0].mountPath: Required value",
        "spec.podTemplate.spec.containers[0].env[0].name: Required value",
        "spec.podTemplate.spec.containers[1].name: Required value",
        'spec.podTemplate.spec.containers[3].name: Duplicate value: "dup"',
        "spec.podTemplate.spec.initContainers[0].env[0].valueFrom.configMapKeyRef.key: Required value",
        "spec.podTemplate.spec.volumes[2].name: Required value",
        "spec.podTemplate.spec.volumes[0]: Required value: must specify a volume type",
        "spec.podTemplate.spec.volumes[1].secret: Forbidden: may not specify more than 1 volume type",
        "spec.podTemplate.spec.securityContext.seLinuxOptions: Forbidden: this security setting is not on the pod template allow-list",
      ],
    );
  });

  it("checks names, labels, env and resources the schema cannot", () => {
    assert.deepEqual(
      check({
        metadata: { labels: { "bad key": "v", ok: "bad value!" }, annotations: { "a/b/c": "x" }, generateName: "x" },
        spec: {
          ephemeralContainers: [],
          containers: [
            {
              name: "Side_Car",
              image: "x",
              env: [{ name: "A", value: "1", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
              resources: { limits: { cpu: "1" }, requests: { cpu: "2" } },
            },
          ],
        },
      }).map((e) => e.slice(0, e.indexOf(":", e.indexOf(":") + 1))),
      [
        "spec.podTemplate.metadata.generateName: Forbidden",
        "spec.podTemplate.metadata.labels: Invalid value",
        "spec.podTemplate.metadata.labels[ok]: Invalid value",
        "spec.podTemplate.metadata.annotations: Invalid value",
        "spec.podTemplate.spec.ephemeralContainers: Forbidden",
        "spec.podTemplate.spec.containers[0].name: Invalid value",
        "spec.podTemplate.spec.containers[0].env[0].valueFrom: Invalid value",
        "spec.podTemplate.spec.containers[0].resources.requests[cpu]: Invalid value",
      ],
    );
  });

  it("rejects a template that is not an object", () => {
    for (const t of [null, [], "x", 3]) assert.equal(check(t).length, 1);
  });
});

describe("pod-template ConfigMaps", () => {
  const template = (t: unknown) => JSON.stringify(t);
  const jsonError = (text: string) => {
    try {
      JSON.parse(text);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error(`${text} parses`);
  };

  it("validates every JSON template in data, pathed by key", () => {
    assert.deepEqual(
      checkCm({
        metadata: { name: "tpl", labels: { "rqlite.io/pod-template": "" } },
        data: {
          "pod-template.json": template({
            spec: { containers: [{ name: "rqlite" }, { name: "sidecar", image: "x" }, { image: "y" }] },
          }),
          "other.json": template({ spec: { hostname: "x" } }),
          "broken.json": "{",
        },
      }),
      [
        "data[pod-template.json].spec.containers[2].name: Required value",
        "data[other.json].spec.hostname: Forbidden: set by the operator",
        // The parser's own words, which differ between V8 versions (Node 24 adds the line and column).
        `data[broken.json]: Invalid value: must be a JSON pod template: ${jsonError("{")}`,
      ],
    );
  });

  it("requires a template and refuses binaryData", () => {
    assert.deepEqual(checkCm({ metadata: { name: "tpl" } }), [
      "data: Required value: a pod-template ConfigMap holds at least one JSON template, e.g. under pod-template.json",
    ]);
    assert.deepEqual(checkCm({ data: { "pod-template.json": "{}" }, binaryData: { "x.bin": "AA==" } }), [
      "binaryData[x.bin]: Forbidden: pod templates are read from data as JSON text",
    ]);
    assert.deepEqual(checkCm({ data: { "pod-template.json": "[]" } }), [
      "data[pod-template.json]: Invalid value: []: must be an object with metadata and spec",
    ]);
    assert.equal(checkCm(null).length, 1);
    assert.equal(checkCm({ data: [] }).length, 1);
    assert.equal(checkCm({ data: { a: 1 } }).length, 1);
  });
});
