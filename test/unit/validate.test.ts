import { strict as assert } from "node:assert";
import { applyDefaults } from "../../shared/defaults.js";
import { formatFieldError } from "../../shared/field-errors.js";
import { validateCreate, validateUpdate } from "../../shared/validate.js";

const cluster = (spec: Record<string, unknown>, name = "demo") => applyDefaults({ metadata: { name }, spec });
const errorsOf = (obj: unknown) => validateCreate(obj).errors.map(formatFieldError);
const warningsOf = (obj: unknown) => validateCreate(obj).warnings;
const updateErrors = (before: unknown, after: unknown) => validateUpdate(before, after).errors.map(formatFieldError);

describe("validateCreate", () => {
  it("accepts the defaulted minimal cluster without warnings", () => {
    assert.deepEqual(validateCreate(cluster({})), { errors: [], warnings: [] });
  });

  it("accepts a fully specified cluster", () => {
    const spec = {
      replicas: 5,
      readReplicas: 32,
      image: "registry.example.com:5000/rqlite/rqlite:10.1.0",
      imagePullPolicy: "Always",
      imagePullSecrets: [{ name: "regcred" }],
      storage: { storageClassName: "fast-ssd", size: "64Mi", reclaimPolicy: "Delete", scaleDownPolicy: "Retain" },
      resources: { limits: { cpu: 2, memory: "1Gi" }, requests: { cpu: "2000m", memory: "1Gi" } },
      affinity: { podAntiAffinity: "Required", topologyKey: "topology.kubernetes.io/zone" },
      podTemplateConfigMap: { name: "tpl", key: "small.json" },
      auth: { secretName: "users" },
      tls: { http: { secretName: "http-tls" }, node: { secretName: "node-tls" } },
      extraArgs: ["-raft-snap=4096", "-fk"],
      env: [
        { name: "TZ", value: "UTC" },
        { name: "P", valueFrom: { secretKeyRef: { name: "s", key: "k" } } },
      ],
      podDisruptionBudget: { maxUnavailable: 0 },
      updateStrategy: { type: "OnDelete" },
      paused: true,
    };
    assert.deepEqual(validateCreate(cluster(spec)), { errors: [], warnings: [] });
  });

  it("reports replicas out of range and warns on an even number", () => {
    assert.deepEqual(errorsOf(cluster({ replicas: 12 })), [
      "spec.replicas: Invalid value: 12: must be between 1 and 9",
    ]);
    assert.deepEqual(errorsOf(cluster({ replicas: 0 })), ["spec.replicas: Invalid value: 0: must be between 1 and 9"]);
    assert.deepEqual(errorsOf(cluster({ readReplicas: 33 })), [
      "spec.readReplicas: Invalid value: 33: must be between 0 and 32",
    ]);
    assert.deepEqual(errorsOf(cluster({ replicas: 2.5 })), [
      "spec.replicas: Invalid value: 2.5: must be of type integer",
    ]);
    assert.deepEqual(warningsOf(cluster({ replicas: 4 })), [
      "spec.replicas: 4 voters tolerate 1 failed node(s), the same as 3 voters; an odd number is recommended",
    ]);
    assert.deepEqual(warningsOf(cluster({ replicas: 12 })), []);
  });

  it("checks the image reference and warns on floating tags", () => {
    assert.deepEqual(errorsOf(cluster({ image: "rqlite/rqlite:10 .2" })), [
      'spec.image: Invalid value: "rqlite/rqlite:10 .2": must be a valid image reference such as rqlite/rqlite:10.2.0',
    ]);
    assert.match(warningsOf(cluster({ image: "rqlite/rqlite:latest" }))[0]!, /^spec.image: tag "latest" floats/);
    assert.match(warningsOf(cluster({ image: "rqlite/rqlite" }))[0]!, /^spec.image: no tag means "latest"/);
    assert.deepEqual(warningsOf(cluster({ image: `rqlite/rqlite@sha256:${"0".repeat(64)}` })), []);
  });

  it("reports enums with their supported values", () => {
    assert.deepEqual(
      errorsOf(
        cluster({
          imagePullPolicy: "Sometimes",
          storage: { reclaimPolicy: "Keep" },
          affinity: { podAntiAffinity: "Strict" },
          updateStrategy: { type: "Recreate" },
        }),
      ),
      [
        'spec.imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"',
        'spec.storage.reclaimPolicy: Unsupported value: "Keep": supported values: "Retain", "Delete"',
        'spec.affinity.podAntiAffinity: Unsupported value: "Strict": supported values: "Preferred", "Required", "None"',
        'spec.updateStrategy.type: Unsupported value: "Recreate": supported values: "RollingUpdate", "OnDelete"',
      ],
    );
  });

  it("checks storage quantities and class names", () => {
    assert.deepEqual(errorsOf(cluster({ storage: { size: "63Mi" } })), [
      'spec.storage.size: Invalid value: "63Mi": must be at least 64Mi',
    ]);
    assert.deepEqual(errorsOf(cluster({ storage: { size: "64M" } })), [
      'spec.storage.size: Invalid value: "64M": must be at least 64Mi',
    ]);
    assert.deepEqual(errorsOf(cluster({ storage: { size: "1.5.5Gi" } })), [
      'spec.storage.size: Invalid value: "1.5.5Gi": must be a quantity such as 500m, 2 or 1Gi',
    ]);
    assert.deepEqual(errorsOf(cluster({ storage: { size: 67108864 } })), []);
    assert.deepEqual(errorsOf(cluster({ storage: { size: true } })), [
      "spec.storage.size: Invalid value: true: must be an integer or a string",
    ]);
    assert.deepEqual(errorsOf(cluster({ storage: { storageClassName: "" } })), []);
    assert.equal(errorsOf(cluster({ storage: { storageClassName: "Fast_SSD" } })).length, 1);
  });

  it("requires requests not to exceed limits, for every resource named in both", () => {
    assert.deepEqual(
      errorsOf(
        cluster({
          resources: {
            limits: { cpu: "1", memory: "1Gi", "nvidia.com/gpu": 1 },
            requests: { cpu: "1001m", memory: "1Gi", "nvidia.com/gpu": 2 },
          },
        }),
      ),
      [
        'spec.resources.requests[cpu]: Invalid value: "1001m": must be less than or equal to cpu limit of 1',
        "spec.resources.requests[nvidia.com/gpu]: Invalid value: 2: must be less than or equal to nvidia.com/gpu limit of 1",
      ],
    );
    assert.deepEqual(errorsOf(cluster({ resources: { requests: { cpu: "-1" } } })), [
      'spec.resources.requests[cpu]: Invalid value: "-1": must be greater than or equal to 0',
    ]);
    assert.deepEqual(errorsOf(cluster({ resources: { requests: { "bad key!": "1" } } })).length, 1);
  });

  it("checks topologyKey, secret names and the template reference", () => {
    assert.deepEqual(
      errorsOf(
        cluster({
          affinity: { topologyKey: "not a key" },
          auth: { secretName: "Users" },
          tls: { http: {}, node: { secretName: "" } },
          imagePullSecrets: [{}, { name: "ok" }, { name: "No" }],
          podTemplate: {},
          podTemplateConfigMap: { name: "tpl", key: "a/b" },
        }),
      ).map((e) => e.split(":")[0]),
      [
        "spec.imagePullSecrets[0].name",
        "spec.tls.http.secretName",
        "spec.imagePullSecrets[2].name",
        "spec.affinity.topologyKey",
        "spec.podTemplateConfigMap",
        "spec.podTemplateConfigMap.key",
        "spec.auth.secretName",
        "spec.tls.node.secretName",
      ],
    );
  });

  it("validates the inline pod template and env with the Pod schema", () => {
    assert.deepEqual(
      errorsOf(
        cluster({
          podTemplate: { spec: { containers: [{ name: "rqlite", image: "x" }] } },
          env: [{ name: "A=B", value: "x" }, { name: "S", valueFrom: { secretKeyRef: { name: "s" } } }, { value: "x" }],
        }),
      ),
      [
        "spec.env[2].name: Required value",
        "spec.podTemplate.spec.containers[0].image: Forbidden: set by the operator",
        "spec.env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
        "spec.env[1].valueFrom.secretKeyRef.key: Required value",
      ],
    );
    assert.match(
      validateCreate(
        cluster({
          env: [
            { name: "A", value: "1" },
            { name: "A", value: "2" },
          ],
        }),
      ).warnings[0]!,
      /spec.env\[1\]: environment variable "A" is set more than once/,
    );
  });

  it("checks the cluster name so every derived name is a DNS label", () => {
    assert.deepEqual(errorsOf(cluster({}, "a".repeat(54))), []);
    assert.deepEqual(errorsOf(cluster({}, "a".repeat(55))), [
      "metadata.name: Too long: may not be more than 54 characters, so that every derived name (e.g. <name>-ro-31, <name>-internal) stays a valid DNS label",
    ]);
    assert.match(errorsOf(cluster({}, "1db"))[0]!, /^metadata.name: Invalid value: "1db": a DNS-1035 label/);
    assert.deepEqual(errorsOf({ metadata: { generateName: "db-" }, spec: {} }), []);
    assert.match(
      errorsOf({ metadata: { generateName: "a".repeat(50) }, spec: {} })[0]!,
      /^metadata.generateName: Too long/,
    );
    assert.deepEqual(errorsOf({ spec: {} }), ["metadata.name: Required value: name or generateName is required"]);
  });

  it("warns when the PodDisruptionBudget would allow losing quorum", () => {
    assert.match(
      warningsOf(cluster({ podDisruptionBudget: { maxUnavailable: 2 } }))[0]!,
      /evicting 2 of 3 voters at once loses quorum/,
    );
    assert.deepEqual(warningsOf(cluster({ replicas: 5, podDisruptionBudget: { maxUnavailable: 2 } })), []);
    assert.deepEqual(errorsOf(cluster({ podDisruptionBudget: { maxUnavailable: -1 } })), [
      "spec.podDisruptionBudget.maxUnavailable: Invalid value: -1: must be greater than or equal to 0",
    ]);
  });

  it("returns every error at once and never throws on garbage", () => {
    const errs = errorsOf({
      metadata: { name: "Bad" },
      spec: {
        replicas: "x",
        readReplicas: -1,
        image: 5,
        storage: "big",
        extraArgs: ["-join=x", 3],
        env: "x",
        paused: "no",
      },
    });
    assert.deepEqual(
      errs.map((e) => e.split(":")[0]),
      [
        "metadata.name",
        "spec.replicas",
        "spec.readReplicas",
        "spec.image",
        "spec.storage",
        "spec.extraArgs[1]",
        "spec.env",
        "spec.paused",
        "spec.extraArgs[0]",
      ],
    );
    for (const garbage of [null, undefined, [], "x", 1, { spec: null }, { metadata: [], spec: [[]] }]) {
      assert.ok(validateCreate(garbage).errors.length > 0, JSON.stringify(garbage));
    }
  });
});

describe("validateUpdate", () => {
  const at = (image: string, storage: Record<string, unknown> = {}) => cluster({ image, storage });

  it("allows the same or the next major version and rejects downgrades and jumps", () => {
    assert.deepEqual(updateErrors(at("rqlite/rqlite:9.4.0"), at("rqlite/rqlite:10.2.0")), []);
    assert.deepEqual(updateErrors(at("rqlite/rqlite:10.2.0"), at("rqlite/rqlite:10.1.0")), []);
    assert.deepEqual(updateErrors(at("rqlite/rqlite:10.2.0"), at("rqlite/rqlite:9.9.9")), [
      'spec.image: Invalid value: "rqlite/rqlite:9.9.9": may not downgrade rqlite from major version 10 to 9: newer data formats cannot be read by older versions',
    ]);
    assert.deepEqual(updateErrors(at("rqlite/rqlite:8.36.0"), at("rqlite/rqlite:10.2.0")), [
      'spec.image: Invalid value: "rqlite/rqlite:10.2.0": may not skip major versions: upgrade from 8 to 9 first',
    ]);
    assert.match(
      validateUpdate(at("rqlite/rqlite:10.2.0"), at("rqlite/rqlite:latest")).warnings.join("\n"),
      /cannot tell the rqlite major versions/,
    );
  });

  it("keeps storageClassName immutable and lets size grow but never shrink", () => {
    assert.deepEqual(
      updateErrors(
        at("rqlite/rqlite:10.2.0", { storageClassName: "a" }),
        at("rqlite/rqlite:10.2.0", { storageClassName: "b" }),
      ),
      ['spec.storage.storageClassName: Invalid value: "b": field is immutable'],
    );
    assert.deepEqual(updateErrors(at("rqlite/rqlite:10.2.0"), at("rqlite/rqlite:10.2.0", { storageClassName: "b" })), [
      'spec.storage.storageClassName: Invalid value: "b": field is immutable',
    ]);
    assert.deepEqual(
      updateErrors(at("rqlite/rqlite:10.2.0", { size: "2Gi" }), at("rqlite/rqlite:10.2.0", { size: "2048Mi" })),
      [],
    );
    assert.deepEqual(
      updateErrors(at("rqlite/rqlite:10.2.0", { size: "2Gi" }), at("rqlite/rqlite:10.2.0", { size: "2G" })),
      [
        'spec.storage.size: Invalid value: "2G": may not be less than the current 2Gi: volumes can grow but never shrink',
      ],
    );
    const grow = validateUpdate(
      at("rqlite/rqlite:10.2.0", { size: "1Gi" }),
      at("rqlite/rqlite:10.2.0", { size: "5Gi" }),
    );
    assert.deepEqual(grow.errors, []);
    assert.match(grow.warnings[0]!, /growing from 1Gi to 5Gi needs a StorageClass with allowVolumeExpansion/);
  });

  it("turns errors the stored object already had into warnings, so they block nothing else", () => {
    const stored = cluster({ extraArgs: ["-on-disk-path=/x"] });
    const scaled = cluster({ extraArgs: ["-on-disk-path=/x"], replicas: 5 });
    const result = validateUpdate(stored, scaled);
    assert.deepEqual(result.errors, []);
    assert.match(result.warnings[0]!, /unknown rqlited 10.x flag -on-disk-path \(unchanged from the stored object/);
    assert.equal(validateUpdate(cluster({}), scaled).errors.length, 1);
  });

  it("never throws when either side is garbage", () => {
    for (const [a, b] of [
      [null, null],
      ["x", cluster({})],
      [cluster({}), []],
      [{ spec: { storage: 1 } }, { spec: { storage: { size: "1Gi" } } }],
    ] as const) {
      assert.doesNotThrow(() => validateUpdate(a, b));
    }
  });
});
