// Randomized properties of defaulting and validation over a seeded mix of valid, edge and
// garbage RqClusters. FUZZ_SEED reproduces a run; a failure names the seed and the sample.
import { mulberry32 } from "../support/random.js";
import { strict as assert } from "node:assert";
import { applyDefaults } from "../../../shared/defaults.js";
import { formatFieldError, type FieldError, type ValidationResult } from "../../../shared/field-errors.js";
import { validatePodTemplate } from "../../../shared/pod-template.js";
import { validateCreate, validateUpdate } from "../../../shared/validate.js";

const SAMPLES = 6000;
const SEED = Number(process.env.FUZZ_SEED ?? 20260501);

const rng = mulberry32;

class Gen {
  /** Set per sample, so that a good share of samples is wholly valid and the rest mixed. */
  private validOnly = false;
  constructor(readonly random: () => number) {}
  chance(p: number): boolean {
    return this.random() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  /** Any JSON-ish value, including the awkward ones: prototype keys, NaN, deep nesting. */
  garbage(depth = 0): unknown {
    const leaf = [
      null,
      true,
      false,
      0,
      -1,
      1.5,
      2 ** 53,
      NaN,
      Infinity,
      "",
      "x",
      "1Gi",
      "-1",
      "__proto__",
      "constructor",
      "-node-id",
      "rqlite",
      "data",
    ];
    if (depth > 3 || this.chance(0.5)) return this.pick(leaf);
    if (this.chance(0.5)) return Array.from({ length: this.int(0, 3) }, () => this.garbage(depth + 1));
    const obj: Record<string, unknown> = {};
    for (let i = this.int(0, 3); i > 0; i--) {
      const k = this.pick([
        "__proto__",
        "constructor",
        "toString",
        "name",
        "spec",
        "size",
        "containers",
        "a",
        "valueFrom",
      ]);
      Object.defineProperty(obj, k, {
        value: this.garbage(depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return obj;
  }

  /** A valid value, an edge value or garbage for one field. */
  field(valid: readonly unknown[], edge: readonly unknown[]): unknown {
    const r = this.validOnly ? 0 : this.random();
    return r < 0.55 ? this.pick(valid) : r < 0.85 ? this.pick(edge) : this.garbage();
  }

  quantity(): unknown {
    return this.field(
      ["1Gi", "64Mi", "500m", 2, "1.5", "10G", "1e9"],
      ["0", "-1Gi", "1.5.5Gi", "1gi", "", 0.5, "1e1001", "9Ei"],
    );
  }

  storageSize(): unknown {
    return this.field(["1Gi", "64Mi", "10G", 2 ** 30, "1.5Ti"], ["63Mi", "64M", "0", "-1Gi", "1.5.5Gi", "", 0.5]);
  }

  podTemplate(): unknown {
    const container = (valid: unknown) =>
      this.field(
        [valid],
        [
          { name: "rqlite", image: "x", volumeMounts: [{ name: "data", mountPath: "/d" }] },
          { image: "noname" },
          { name: "Bad_Name", ports: "x" },
          { name: "rqlite", volumeMounts: null },
        ],
      );
    const rqlite = { name: "rqlite", resources: { limits: { memory: this.quantity() } } };
    const sidecar = { name: "side", image: "busybox", env: [{ name: "A", value: "1" }] };
    return this.field(
      [
        {
          metadata: { labels: { team: "db" } },
          spec: { containers: [container(rqlite), container(sidecar)], nodeSelector: { a: "b" } },
        },
        {},
      ],
      [
        { spec: null },
        { spec: { hostname: "h", volumes: [{ name: "data" }, { name: "v" }] } },
        { metadata: { name: "x", labels: { "rqlite.io/x": "y" } } },
        { spec: { containers: null } },
      ],
    );
  }

  spec(): unknown {
    const spec: Record<string, unknown> = {};
    const fields: Record<string, () => unknown> = {
      replicas: () => this.field([1, 3, 5, 9], [0, 2, 4, 10, -1, 3.5, "3", null]),
      readReplicas: () => this.field([0, 1, 32], [33, -1, 1.1, "2"]),
      image: () =>
        this.field(
          ["rqlite/rqlite:10.2.0", "rqlite/rqlite:9.1.0", "localhost:5000/r:10.0.0"],
          ["rqlite/rqlite:latest", "rqlite/rqlite", "UPPER CASE", "", "rqlite/rqlite:8.0.0"],
        ),
      imagePullPolicy: () => this.field(["Always", "IfNotPresent", "Never"], ["Sometimes", "", "always"]),
      imagePullSecrets: () => this.field([[{ name: "regcred" }], []], [[{}], [{ name: "Bad" }], [null], "x"]),
      storage: () =>
        this.field(
          [
            { size: this.storageSize(), storageClassName: "fast" },
            {},
            { reclaimPolicy: "Delete", scaleDownPolicy: "Retain" },
          ],
          [
            { size: this.storageSize(), reclaimPolicy: "Keep" },
            { storageClassName: "" },
            { storageClassName: "Bad!" },
            null,
          ],
        ),
      resources: () =>
        this.field(
          [{ limits: { cpu: this.quantity(), memory: this.quantity() } }, { requests: { cpu: this.quantity() } }, {}],
          [
            { limits: { cpu: "1" }, requests: { cpu: "2" } },
            { requests: null },
            { limits: 5 },
            { requests: { "bad key": "1" } },
          ],
        ),
      affinity: () =>
        this.field(
          [{ podAntiAffinity: "Required" }, { topologyKey: "topology.kubernetes.io/zone" }, {}],
          [{ podAntiAffinity: "Strict" }, { topologyKey: "" }, { topologyKey: "a//b" }],
        ),
      podTemplate: () => this.podTemplate(),
      podTemplateConfigMap: () =>
        this.field(
          [{ name: "tpl" }, { name: "tpl", key: "x.json" }],
          [{}, { name: "Bad" }, { name: "t", key: "a/b" }, { key: 1 }],
        ),
      auth: () => this.field([{ secretName: "users" }], [{}, { secretName: "" }, { secretName: "X" }]),
      tls: () =>
        this.field(
          [{ http: { secretName: "h" } }, { node: { secretName: "n" } }, {}],
          [{ http: {} }, { node: null }, { http: { secretName: 1 } }],
        ),
      extraArgs: () =>
        this.field(
          [["-raft-snap=1024"], ["-fk"], ["-raft-log-level", "INFO"], []],
          [["-node-id=x"], ["data"], ["-raft-snap"], ["-unknown"], ["-raft-snap-int=x"], [1]],
        ),
      env: () =>
        this.field(
          [[{ name: "A", value: "1" }], [{ name: "S", valueFrom: { secretKeyRef: { name: "s", key: "k" } } }]],
          [[{ value: "x" }], [{ name: "A=B" }], [{ name: "A", valueFrom: {} }], [{ name: "A" }, { name: "A" }]],
        ),
      podDisruptionBudget: () =>
        this.field(
          [{ maxUnavailable: 0 }, { maxUnavailable: 1 }, {}],
          [{ maxUnavailable: -1 }, { maxUnavailable: 5 }, { maxUnavailable: "1" }],
        ),
      updateStrategy: () =>
        this.field([{ type: "RollingUpdate" }, { type: "OnDelete" }, {}], [{ type: "Recreate" }, { type: null }]),
      paused: () => this.field([true, false], ["true", 0, null]),
    };
    for (const [name, make] of Object.entries(fields)) if (this.chance(0.4)) spec[name] = make();
    return spec;
  }

  cluster(): unknown {
    this.validOnly = this.chance(0.4);
    const r = this.validOnly ? 1 : this.random();
    if (r < 0.05) return this.garbage();
    const name = this.field(["demo", "a", "db-1", "a".repeat(54)], ["Demo", "1db", "a".repeat(55), "", "a_b"]);
    return {
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: r < 0.08 ? this.garbage() : { name },
      spec: r < 0.12 ? this.garbage() : this.spec(),
    };
  }
}

const ERROR_TYPES = new Set(["Invalid", "Required", "Unsupported", "Forbidden", "TooLong", "Duplicate", "TypeInvalid"]);

function assertWellFormed(result: ValidationResult): void {
  assert.ok(Array.isArray(result.errors) && Array.isArray(result.warnings));
  for (const e of result.errors) assertFieldError(e);
  for (const w of result.warnings) assert.equal(typeof w, "string");
}

function assertFieldError(e: FieldError): void {
  assert.equal(typeof e.field, "string");
  assert.ok(ERROR_TYPES.has(e.type), e.type);
  assert.equal(typeof e.message, "string");
  assert.equal(typeof formatFieldError(e), "string");
}

describe(`randomized defaulting and validation (${SAMPLES} samples, FUZZ_SEED=${SEED})`, () => {
  const gen = new Gen(rng(SEED));
  const samples = Array.from({ length: SAMPLES }, () => gen.cluster());

  function forAll(property: (sample: unknown) => void): void {
    samples.forEach((sample, i) => {
      try {
        property(sample);
      } catch (err) {
        const shown = JSON.stringify(sample, (_k, v: unknown) =>
          typeof v === "number" && !Number.isFinite(v) ? String(v) : v,
        );
        throw new Error(`sample ${i} of FUZZ_SEED=${SEED} ${shown}: ${(err as Error).message}`, { cause: err });
      }
    });
  }

  it("mixes valid, edge and garbage samples", () => {
    const valid = samples.filter((s) => validateCreate(s).errors.length === 0).length;
    assert.ok(valid > SAMPLES * 0.05 && valid < SAMPLES * 0.95, `${valid} of ${SAMPLES} samples are valid`);
  });

  it("applyDefaults is idempotent and never mutates its input", () => {
    forAll((sample) => {
      const before = structuredClone(sample);
      const once = applyDefaults(sample);
      assert.deepStrictEqual(sample, before, "input was mutated");
      const snapshot = structuredClone(once);
      assert.deepStrictEqual(applyDefaults(once), once, "defaulting twice differs from once");
      assert.deepStrictEqual(once, snapshot, "defaulted value was mutated");
    });
  });

  it("defaulting never makes a valid cluster invalid", () => {
    forAll((sample) => {
      if (validateCreate(sample).errors.length > 0) return;
      assert.deepEqual(validateCreate(applyDefaults(sample)).errors.map(formatFieldError), []);
    });
  });

  it("validation never throws, never mutates and always answers in shape", () => {
    forAll((sample) => {
      const before = structuredClone(sample);
      const defaulted = applyDefaults(sample);
      assertWellFormed(validateCreate(sample));
      assertWellFormed(validateCreate(defaulted));
      assertWellFormed(validateUpdate(sample, defaulted));
      assertWellFormed(validateUpdate(defaulted, sample));
      const template = (sample as { spec?: { podTemplate?: unknown } } | null)?.spec?.podTemplate;
      validatePodTemplate(template, "spec.podTemplate").forEach(assertFieldError);
      assert.deepStrictEqual(sample, before, "validation mutated its input");
    });
  });

  it("an unchanged object never fails its own update", () => {
    forAll((sample) => {
      const defaulted = applyDefaults(sample);
      assert.deepEqual(validateUpdate(defaulted, defaulted).errors.map(formatFieldError), []);
    });
  });
});
