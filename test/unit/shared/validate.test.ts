import { strict as assert } from "node:assert";
import { applyDefaults } from "../../../shared/defaults.js";
import { formatFieldError } from "../../../shared/field-errors.js";
import { validateCreate, validateUpdate } from "../../../shared/validate.js";

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
      image: "registry.example.com:5000/rqlite/rqlite:8.43.4",
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
      'spec.image: Invalid value: "rqlite/rqlite:10 .2": must be a valid image reference such as rqlite/rqlite:8.43.4',
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
      // The names and the key's characters are the schema's patterns, so they come first.
      [
        "spec.imagePullSecrets[0].name",
        "spec.imagePullSecrets[2].name",
        "spec.podTemplateConfigMap.key",
        "spec.auth.secretName",
        "spec.tls.http.secretName",
        "spec.tls.node.secretName",
        "spec.affinity.topologyKey",
        "spec.podTemplateConfigMap",
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

  it("refuses names whose children would take another cluster's names", () => {
    assert.deepEqual(errorsOf(cluster({}, "orders-ro")), [
      'metadata.name: Invalid value: "orders-ro": may not end in "-ro": this cluster\'s voter Pods and PVCs (orders-ro-0, orders-ro-1, ...) and client Service (orders-ro) would be named like the read replicas\' Pods and PVCs and read Service of an RqCluster "orders" in the same namespace; choose a name that does not end in "-ro"',
    ]);
    assert.deepEqual(errorsOf(cluster({}, "orders-internal")), [
      'metadata.name: Invalid value: "orders-internal": may not end in "-internal": this cluster\'s client Service (orders-internal) would be named like the headless Service of an RqCluster "orders" in the same namespace; choose a name that does not end in "-internal"',
    ]);
    for (const name of [
      "orders",
      "orders-ro-1",
      "orders-robot",
      "ro",
      "internal",
      "orders-readonly",
      "orders-internal-1",
    ])
      assert.deepEqual(errorsOf(cluster({}, name)), [], name);
    // A generated name ends in random characters, never in -ro.
    assert.deepEqual(errorsOf({ metadata: { generateName: "orders-ro" }, spec: {} }), []);
    // Clusters created before the rule stay editable: the stored error becomes a warning.
    const stored = cluster({}, "old-ro");
    const scaled = cluster({ replicas: 5 }, "old-ro");
    assert.deepEqual(validateUpdate(stored, scaled).errors, []);
    assert.match(validateUpdate(stored, scaled).warnings[0]!, /may not end in "-ro".*unchanged from the stored object/);
  });

  it("refuses the operator's own auth Secret as the user's", () => {
    assert.deepEqual(errorsOf(cluster({ auth: { secretName: "demo-operator-auth" } })), [
      'spec.auth.secretName: Invalid value: "demo-operator-auth": is the Secret the operator writes for this cluster (your users plus its own system user); name the Secret with your users.json differently',
    ]);
    assert.deepEqual(errorsOf(cluster({ auth: { secretName: "other-operator-auth" } })), []);
  });

  it("accepts a LoadBalancer client Service and a NodePort read Service", () => {
    const service = {
      type: "LoadBalancer",
      annotations: { "Service.Beta.Kubernetes.io/AWS-Load-Balancer-Internal": "true" },
      labels: { team: "db", "example.com/tier": "" },
      loadBalancerSourceRanges: ["10.0.0.0/8", " 192.168.1.0/24", "fd00::/8", "::ffff:10.0.0.0/104"],
      externalTrafficPolicy: "Local",
    };
    assert.deepEqual(validateCreate(cluster({ service, readService: { type: "NodePort" } })), {
      errors: [],
      warnings: [],
    });
  });

  it("judges spec.service as Kubernetes judges a Service, and keeps the operator's keys its own", () => {
    const errors = errorsOf(
      cluster({
        service: {
          type: "ExternalName",
          annotations: { "bad key!": "x", "rqlite.io/spec-hash": "x" },
          labels: { "app.kubernetes.io/instance": "other", "app.kubernetes.io/version": "1", ok: "-bad-" },
          loadBalancerSourceRanges: ["10.0.0.0", "300.0.0.0/8", "10.0.0.0/33", "010.0.0.0/8", "fd00::/129", 7],
        },
        readService: {
          externalTrafficPolicy: "Local",
          loadBalancerSourceRanges: ["10.0.0.0/8"],
          annotations: { "service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8,nope" },
        },
      }),
    );
    const fields = errors.map((e) => e.split(": ").slice(0, 2).join(": "));
    for (const want of [
      "spec.service.type: Unsupported value",
      "spec.service.annotations: Invalid value",
      "spec.service.annotations[rqlite.io/spec-hash]: Forbidden",
      "spec.service.labels[app.kubernetes.io/instance]: Forbidden",
      "spec.service.labels[app.kubernetes.io/version]: Forbidden",
      "spec.service.labels[ok]: Invalid value",
      "spec.service.loadBalancerSourceRanges[0]: Invalid value",
      "spec.service.loadBalancerSourceRanges[1]: Invalid value",
      "spec.service.loadBalancerSourceRanges[2]: Invalid value",
      "spec.service.loadBalancerSourceRanges[3]: Invalid value",
      "spec.service.loadBalancerSourceRanges[4]: Invalid value",
      "spec.service.loadBalancerSourceRanges[5]: Invalid value",
      "spec.readService.externalTrafficPolicy: Forbidden",
      "spec.readService.loadBalancerSourceRanges: Forbidden",
      "spec.readService.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]: Invalid value",
    ])
      assert.ok(fields.includes(want), `${want} not in\n${errors.join("\n")}`);
    assert.ok(
      errors.some((e) => /10\.0\.0\.0\/33.*prefix length must be at most 32/.test(e)),
      errors.join("\n"),
    );
  });

  it("bounds spec.service's maps and lists", () => {
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));
    const huge = { big: "x".repeat(300 * 1024) };
    const ranges = Array.from({ length: 65 }, () => "10.0.0.0/8");
    const errors = errorsOf(
      cluster({ service: { type: "LoadBalancer", labels: many, loadBalancerSourceRanges: ranges } }),
    );
    assert.ok(
      errors.includes('spec.service.labels: Invalid value: "65 keys": must have at most 64 keys'),
      errors.join("\n"),
    );
    assert.ok(
      errors.includes('spec.service.loadBalancerSourceRanges: Invalid value: "65 items": must have at most 64 items'),
    );
    assert.match(
      errorsOf(cluster({ service: { annotations: huge } })).join("\n"),
      /spec\.service\.annotations: Too long.*262144 bytes/,
    );
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

  /** A stored cluster whose Pods run `running` (status.currentImage) while its spec asks for `image`. */
  const runs = (image: string, running: string) => ({ ...at(image), status: { currentImage: running } });

  it("allows the changes rqlite supports and rejects other downgrades and jumps", () => {
    assert.deepEqual(updateErrors(at("rqlite/rqlite:9.4.0"), at("rqlite/rqlite:10.2.0")), []);
    assert.deepEqual(updateErrors(at("rqlite/rqlite:10.2.0"), at("rqlite/rqlite:10.1.0")), []);
    assert.deepEqual(updateErrors(at("rqlite/rqlite:10.2.0"), at("rqlite/rqlite:9.9.9")), [
      'spec.image: Invalid value: "rqlite/rqlite:9.9.9": may not change rqlite from 10.2.0 to 9.9.9: the Pods run or are being rolled to "rqlite/rqlite:10.2.0" (spec.image before this update); rqlite does not support downgrading from major version 10 to 9 in place; back up the cluster, create a new RqCluster on 9.x and restore the backup into it (rqlite CHANGELOG v10.0.0)',
    ]);
    assert.deepEqual(updateErrors(at("rqlite/rqlite:8.36.0"), at("rqlite/rqlite:10.2.0")), [
      'spec.image: Invalid value: "rqlite/rqlite:10.2.0": may not change rqlite from 8.36.0 to 10.2.0: the Pods run or are being rolled to "rqlite/rqlite:8.36.0" (spec.image before this update); upgrade to major version 9 first, one major version at a time',
    ]);
    // rqlite 9 may go back to 8 in place ("You can also downgrade back to an 8.x release", CHANGELOG v9.0.0).
    assert.deepEqual(updateErrors(at("rqlite/rqlite:9.4.0"), at("rqlite/rqlite:8.43.4")), []);
  });

  it("compares with the version the Pods run, so a failed upgrade can be rolled back", () => {
    // The spec asked for 10.x, the roll failed and every voter still runs 9.x: going back is no downgrade.
    assert.deepEqual(updateErrors(runs("rqlite/rqlite:10.2.0", "rqlite/rqlite:9.4.0"), at("rqlite/rqlite:9.4.0")), []);
    assert.deepEqual(updateErrors(runs("rqlite/rqlite:10.2.0", "rqlite/rqlite:9.4.0"), at("rqlite/rqlite:9.1.0")), []);
    // ... but nothing the Pods run may be downgraded where rqlite cannot, nor jumped past.
    assert.deepEqual(updateErrors(runs("rqlite/rqlite:10.2.0", "rqlite/rqlite:10.2.0"), at("rqlite/rqlite:9.4.0")), [
      'spec.image: Invalid value: "rqlite/rqlite:9.4.0": may not change rqlite from 10.2.0 to 9.4.0: the Pods run "rqlite/rqlite:10.2.0" (status.currentImage); rqlite does not support downgrading from major version 10 to 9 in place; back up the cluster, create a new RqCluster on 9.x and restore the backup into it (rqlite CHANGELOG v10.0.0)',
    ]);
    assert.deepEqual(updateErrors(runs("rqlite/rqlite:9.4.0", "rqlite/rqlite:8.43.4"), at("rqlite/rqlite:10.2.0")), [
      'spec.image: Invalid value: "rqlite/rqlite:10.2.0": may not change rqlite from 8.43.4 to 10.2.0: the Pods run "rqlite/rqlite:8.43.4" (status.currentImage); upgrade to major version 9 first, one major version at a time',
    ]);
    // Mid-roll from 8.x to 9.x (no currentImage): every image a Pod runs is judged, so 10.x is
    // refused for the Pods still on 8.x, and going back to 8.x stays allowed.
    const rolling = {
      ...at("rqlite/rqlite:9.4.0"),
      status: { images: ["rqlite/rqlite:8.43.4", "rqlite/rqlite:9.4.0"] },
    };
    assert.deepEqual(updateErrors(rolling, at("rqlite/rqlite:10.2.0")), [
      'spec.image: Invalid value: "rqlite/rqlite:10.2.0": may not change rqlite from 8.43.4 to 10.2.0: a Pod runs "rqlite/rqlite:8.43.4" (status.images); upgrade to major version 9 first, one major version at a time',
    ]);
    assert.deepEqual(updateErrors(rolling, at("rqlite/rqlite:8.43.4")), []);
    const growing = { ...rolling, spec: { ...rolling.spec, image: "rqlite/rqlite:10.2.0" } };
    assert.match(
      updateErrors(growing, {
        ...at("rqlite/rqlite:10.2.0"),
        spec: { ...at("rqlite/rqlite:10.2.0").spec, replicas: 5 },
      })[0]!,
      /^spec.replicas: Forbidden: .*a Pod runs "rqlite\/rqlite:8.43.4" \(status.images\)/,
    );
    // Without status.images or status.currentImage (a new cluster) the stored spec stands in.
    assert.equal(updateErrors({ ...at("rqlite/rqlite:10.2.0"), status: {} }, at("rqlite/rqlite:9.4.0")).length, 1);
    // Other edits of a cluster mid-upgrade are not judged by the image rules.
    const midUpgrade = runs("rqlite/rqlite:9.4.0", "rqlite/rqlite:8.43.4");
    assert.deepEqual(
      updateErrors(midUpgrade, {
        ...at("rqlite/rqlite:9.4.0"),
        spec: { ...at("rqlite/rqlite:9.4.0").spec, replicas: 5 },
      }),
      [],
    );
  });

  it("refuses adding nodes while the Pods run a major that the new nodes cannot join", () => {
    const grown = (image: string, replicas: number, readReplicas = 0) => ({
      ...at(image),
      spec: { ...at(image).spec, replicas, readReplicas },
    });
    const upgrading = { ...grown("rqlite/rqlite:10.2.0", 3), status: { currentImage: "rqlite/rqlite:9.4.0" } };
    assert.deepEqual(updateErrors(upgrading, grown("rqlite/rqlite:10.2.0", 5)), [
      'spec.replicas: Forbidden: may not add nodes until the upgrade to "rqlite/rqlite:10.2.0" has finished: the Pods run "rqlite/rqlite:9.4.0" (status.currentImage), and a new rqlite 10.2.0 node cannot join a cluster with members on 9.4.0 (rqlite 10.x nodes join only clusters already on 10.x); scale once status.images shows only the new image',
    ]);
    // Asking for the upgrade and more nodes in one update is the same thing.
    const on9 = { ...grown("rqlite/rqlite:9.4.0", 3), status: { currentImage: "rqlite/rqlite:9.4.0" } };
    assert.match(
      updateErrors(on9, grown("rqlite/rqlite:10.2.0", 3, 2))[0]!,
      /^spec.readReplicas: Forbidden: may not add nodes/,
    );
    // Within a major, after the roll, when shrinking, or on 9.x: nodes may be added.
    assert.deepEqual(updateErrors(on9, grown("rqlite/rqlite:9.4.0", 5)), []);
    assert.deepEqual(updateErrors(upgrading, grown("rqlite/rqlite:10.2.0", 1)), []);
    const done = { ...grown("rqlite/rqlite:10.2.0", 3), status: { currentImage: "rqlite/rqlite:10.2.0" } };
    assert.deepEqual(updateErrors(done, grown("rqlite/rqlite:10.2.0", 5)), []);
  });

  it("warns about the version only when the image is set", () => {
    const created = validateCreate(at("rqlite/rqlite:10.2.0"));
    assert.deepEqual(created.errors, []);
    assert.deepEqual(created.warnings, [
      "spec.image: rqlite 10.2.0 is not one of the versions this operator release was tested with (8.43.4, 8.36.0); it is supported, but test it before relying on it",
      "spec.image: rqlite's own images from 9.2.2 on bundle the sqliteai/sqlite-vector extension under the Elastic License 2.0, which is not an open-source licence; rqlite lists every bundled licence at GET /licenses",
    ]);
    assert.deepEqual(validateCreate(at("rqlite/rqlite:8.43.4")).warnings, []);
    assert.equal(validateUpdate(at("rqlite/rqlite:9.4.5"), at("rqlite/rqlite:10.2.0")).warnings.length, 2);
    // An unrelated edit of a cluster on an untested version says nothing again.
    const resized = at("rqlite/rqlite:10.2.0", { size: "1Gi" });
    assert.deepEqual(validateUpdate(resized, at("rqlite/rqlite:10.2.0", { size: "1Gi" })).warnings, []);
    // A version the operator cannot roll safely is refused.
    assert.deepEqual(errorsOf(at("rqlite/rqlite:8.20.0")), [
      'spec.image: Invalid value: "rqlite/rqlite:8.20.0": rqlite 8.20.0 is older than 8.21.0, the oldest the operator supports: before it, /readyz?sync does not exist and a rolling update could not wait for each node to catch up',
    ]);
  });

  it("refuses an image without a version over Pods that run a known version", () => {
    const running = runs("rqlite/rqlite:10.2.0", "rqlite/rqlite:10.2.0");
    const why = (reason: string, image: string, pin = "rqlite/rqlite:10.2.0") =>
      `spec.image: Invalid value: ${JSON.stringify(image)}: must name an rqlite version: ${reason}, and the Pods run "rqlite/rqlite:10.2.0" (status.currentImage), so this could downgrade rqlite or skip a major version; pin a version tag such as ${pin}`;
    assert.deepEqual(updateErrors(running, at("rqlite/rqlite")), [
      why('no tag means "latest", whatever was pushed last', "rqlite/rqlite"),
    ]);
    assert.deepEqual(updateErrors(running, at("rqlite/rqlite:latest")), [
      why('tag "latest" names whatever was pushed last', "rqlite/rqlite:latest"),
    ]);
    assert.deepEqual(updateErrors(running, at("mirror.example.com/db/rqlite:stable")), [
      why(
        'tag "stable" carries no rqlite version',
        "mirror.example.com/db/rqlite:stable",
        "mirror.example.com/db/rqlite:10.2.0",
      ),
    ]);
    const digest = `rqlite/rqlite@sha256:${"a".repeat(64)}`;
    assert.deepEqual(updateErrors(running, at(digest)), [
      why("a digest alone does not tell the rqlite version", digest),
    ]);
    // A version tag with a digest, or a versioned custom build, is fine.
    assert.deepEqual(updateErrors(running, at(`rqlite/rqlite:10.3.0@sha256:${"a".repeat(64)}`)), []);
    assert.deepEqual(updateErrors(running, at("mirror.example.com/rqlite:10.3.0-patched")), []);
    // From an unknown version, pinning one is the way out, with a warning.
    const floating = runs("rqlite/rqlite:latest", "rqlite/rqlite:latest");
    const pinned = validateUpdate(floating, at("rqlite/rqlite:10.2.0"));
    assert.deepEqual(pinned.errors, []);
    assert.match(
      pinned.warnings.join("\n"),
      /cannot tell the rqlite version: the Pods run "rqlite\/rqlite:latest" \(status.currentImage\)/,
    );
    assert.deepEqual(updateErrors(floating, at("rqlite/rqlite")), []);
    // Back to exactly what runs is always allowed, even mid-upgrade from a floating tag.
    assert.deepEqual(
      updateErrors(runs("rqlite/rqlite:10.2.0", "rqlite/rqlite:latest"), at("rqlite/rqlite:latest")),
      [],
    );
    // An unchanged floating image blocks no other edit.
    assert.deepEqual(
      updateErrors(runs("rqlite/rqlite:latest", "rqlite/rqlite:10.2.0"), at("rqlite/rqlite:latest")),
      [],
    );
  });

  it("refuses turning node-to-node TLS on or off, but allows another Secret", () => {
    const tls = (node?: string) => cluster({ tls: node === undefined ? {} : { node: { secretName: node } } });
    assert.deepEqual(updateErrors(tls(), tls("node-tls")), [
      'spec.tls.node.secretName: Invalid value: "node-tls": may not be set on an existing cluster: rqlite nodes with and without node-to-node TLS cannot reach each other, so no rolling restart can make the change; create a new RqCluster with spec.tls.node.secretName and restore a backup into it',
    ]);
    assert.deepEqual(updateErrors(tls("node-tls"), tls()), [
      'spec.tls.node.secretName: Forbidden: may not be removed from an existing cluster (it was "node-tls"): rqlite nodes with and without node-to-node TLS cannot reach each other, so no rolling restart can make the change; create a new RqCluster without it and restore a backup into it',
    ]);
    assert.deepEqual(updateErrors(tls("node-tls"), cluster({})), updateErrors(tls("node-tls"), tls()));
    const renamed = validateUpdate(tls("node-tls"), tls("node-tls-2"));
    assert.deepEqual(renamed.errors, []);
    assert.match(renamed.warnings.join("\n"), /both must be issued by the same CA/);
    assert.deepEqual(updateErrors(tls("node-tls"), tls("node-tls")), []);
    // HTTPS can be turned on and off: the controller rolls it.
    assert.deepEqual(updateErrors(cluster({}), cluster({ tls: { http: { secretName: "http-tls" } } })), []);
    assert.deepEqual(updateErrors(cluster({ tls: { http: { secretName: "http-tls" } } }), cluster({})), []);
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
    const stored = cluster({ extraArgs: ["-on-disk=/x"] });
    const scaled = cluster({ extraArgs: ["-on-disk=/x"], replicas: 5 });
    const result = validateUpdate(stored, scaled);
    assert.deepEqual(result.errors, []);
    assert.match(result.warnings[0]!, /unknown rqlited flag -on-disk \(unchanged from the stored object/);
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

describe("validate: spec.hibernate", () => {
  it("takes a boolean only, with a field-pathed error", () => {
    const errors = validateCreate(cluster({ hibernate: "yes" })).errors.map(formatFieldError);
    assert.equal(errors.length, 1, errors.join("; "));
    assert.match(errors[0]!, /^spec\.hibernate: /);
  });

  it("warns when a cluster is put to sleep, and only then", () => {
    const awake = cluster({});
    const asleep = cluster({ hibernate: true });
    assert.match(validateUpdate(awake, asleep).warnings.join("\n"), /spec\.hibernate: every Pod .* will be deleted/);
    assert.deepEqual(validateUpdate(asleep, asleep).warnings, []);
    assert.deepEqual(validateUpdate(asleep, awake).warnings, []);
  });

  it("lets a hibernated cluster be scaled and its image changed, for waking", () => {
    const asleep = cluster({ hibernate: true });
    assert.deepEqual(updateErrors(asleep, cluster({ hibernate: true, replicas: 5 })), []);
    assert.deepEqual(updateErrors(asleep, cluster({ hibernate: true, replicas: 1 })), []);
  });
});

describe("validate: spec.recovery", () => {
  const withUid = (spec: Record<string, unknown>) => ({ ...cluster(spec), metadata: { name: "demo", uid: "uid-1" } });
  const ask = (confirm: string) => ({ recovery: { confirm, requestedAt: "2026-12-07T16:00:00Z" } });

  it("takes the cluster's own uid as confirmation", () => {
    assert.deepEqual(updateErrors(withUid({}), withUid(ask("uid-1"))), []);
  });

  it("refuses another uid, naming the one to type", () => {
    assert.deepEqual(updateErrors(withUid({}), withUid(ask("uid-2"))), [
      'spec.recovery.confirm: Invalid value: "uid-2": must be this RqCluster\'s metadata.uid (uid-1): setting it accepts that the data only lost voters held is lost (see kubectl rqlite recover)',
    ]);
  });

  it("judges only a changed request: one left in the spec blocks no other edit", () => {
    const stored = withUid(ask("uid-2"));
    assert.deepEqual(updateErrors(stored, withUid({ ...ask("uid-2"), replicas: 5 })), []);
  });

  it("refuses a recovery of a hibernated cluster", () => {
    const errors = errorsOf(cluster({ hibernate: true, ...ask("x") }));
    assert.deepEqual(errors, [
      "spec.recovery: Forbidden: may not be set while spec.hibernate is true: wake the cluster first (spec.hibernate: false)",
    ]);
  });

  it("needs confirm and a requestedAt time", () => {
    const errors = errorsOf(cluster({ recovery: { confirm: "x", requestedAt: "yesterday" } }));
    assert.equal(errors.length, 1, errors.join("; "));
    assert.match(errors[0]!, /^spec\.recovery\.requestedAt: /);
    assert.match(
      errorsOf(cluster({ recovery: { requestedAt: "2026-12-07T16:00:00Z" } }))[0]!,
      /spec\.recovery\.confirm: Required/,
    );
  });

  it("takes source Survivors or Backup, and nothing else", () => {
    for (const source of ["Survivors", "Backup"])
      assert.deepEqual(errorsOf(cluster({ recovery: { ...ask("x").recovery, source } })), [], source);
    const errors = errorsOf(cluster({ recovery: { ...ask("x").recovery, source: "backup" } }));
    assert.equal(errors.length, 1, errors.join("; "));
    assert.match(
      errors[0]!,
      /^spec\.recovery\.source: Unsupported value: "backup": supported values: "Survivors", "Backup"/,
    );
  });
});
