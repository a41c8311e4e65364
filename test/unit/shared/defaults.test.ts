import { strict as assert } from "node:assert";
import { applyDefaults } from "../../../shared/defaults.js";
import { DEFAULT_IMAGE } from "../../../shared/schema.js";
import type { DefaultedRqCluster, RqCluster } from "../../../shared/types.generated.js";

const FULL_DEFAULTS = {
  replicas: 3,
  readReplicas: 0,
  image: DEFAULT_IMAGE,
  imagePullPolicy: "IfNotPresent",
  storage: { size: "1Gi", reclaimPolicy: "Retain", scaleDownPolicy: "Delete" },
  resources: { requests: { cpu: "100m", memory: "128Mi" } },
  affinity: { podAntiAffinity: "Preferred", topologyKey: "kubernetes.io/hostname" },
  podDisruptionBudget: { maxUnavailable: 1 },
  updateStrategy: { type: "RollingUpdate" },
  network: { policy: true },
  maintenance: { inProgress: false },
  paused: false,
  hibernate: false,
};

const specOf = (spec: unknown) => (applyDefaults({ metadata: { name: "demo" }, spec }) as { spec: unknown }).spec;

describe("applyDefaults", () => {
  it("fills every default of docs/api.md into an empty spec, or a missing one", () => {
    assert.equal(DEFAULT_IMAGE, "rqlite/rqlite:8.43.4");
    assert.deepEqual(specOf({}), FULL_DEFAULTS);
    assert.deepEqual(specOf(undefined), FULL_DEFAULTS);
    const typed: DefaultedRqCluster = applyDefaults({ metadata: { name: "x" } } satisfies RqCluster);
    assert.equal(typed.spec.storage.size, "1Gi");
  });

  it("keeps what the user set and fills around it", () => {
    assert.deepEqual(
      specOf({ replicas: 5, storage: { size: "10Gi" }, affinity: { podAntiAffinity: "Required" }, paused: true }),
      {
        ...FULL_DEFAULTS,
        replicas: 5,
        storage: { ...FULL_DEFAULTS.storage, size: "10Gi" },
        affinity: { ...FULL_DEFAULTS.affinity, podAntiAffinity: "Required" },
        paused: true,
      },
    );
  });

  it("treats null like absent, as the API server's structural defaulting does", () => {
    assert.equal((specOf({ replicas: null }) as { replicas: number }).replicas, 3);
  });

  it("defaults podTemplateConfigMap.key only when a ConfigMap is referenced", () => {
    assert.deepEqual(
      (specOf({ podTemplateConfigMap: { name: "tpl" } }) as Record<string, unknown>).podTemplateConfigMap,
      { name: "tpl", key: "pod-template.json" },
    );
    assert.ok(!("podTemplateConfigMap" in (specOf({}) as object)));
  });

  it("fills missing requests, capped at a lower limit so defaults never break requests <= limits", () => {
    const spec = specOf({ resources: { limits: { memory: "64Mi", cpu: "2" }, requests: { cpu: "1" } } }) as Record<
      string,
      unknown
    >;
    assert.deepEqual(spec.resources, { limits: { memory: "64Mi", cpu: "2" }, requests: { cpu: "1", memory: "64Mi" } });
    const onlyLimits = specOf({ resources: { limits: { cpu: "50m" } } }) as Record<string, unknown>;
    assert.deepEqual(onlyLimits.resources, { limits: { cpu: "50m" }, requests: { cpu: "50m", memory: "128Mi" } });
  });

  it("never mutates its input and is idempotent", () => {
    const input = { metadata: { name: "demo" }, spec: { storage: {}, resources: { limits: { cpu: 1 } } } };
    const snapshot = structuredClone(input);
    const once = applyDefaults(input);
    assert.deepEqual(input, snapshot);
    assert.deepEqual(applyDefaults(once), once);
    assert.notEqual(once.spec.storage, input.spec.storage);
  });

  it("leaves what it cannot default for validation to report", () => {
    for (const garbage of [null, 7, "x", [1, 2], true]) assert.deepEqual(applyDefaults(garbage), garbage);
    assert.equal((applyDefaults({ spec: "nope" }) as { spec: unknown }).spec, "nope");
    const odd = specOf({ storage: "big", resources: { requests: 5 }, affinity: [], replicas: "three" }) as Record<
      string,
      unknown
    >;
    assert.equal(odd.storage, "big");
    assert.deepEqual(odd.resources, { requests: 5 });
    assert.deepEqual(odd.affinity, []);
    assert.equal(odd.replicas, "three");
  });

  it("copies __proto__ keys as data, never as prototypes", () => {
    const input = JSON.parse('{"spec":{"__proto__":{"polluted":true},"storage":{}}}') as object;
    const out = applyDefaults(input) as { spec: Record<string, unknown> };
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(Object.getOwnPropertyDescriptor(out.spec, "__proto__")?.value, { polluted: true });
    assert.equal(Object.getPrototypeOf(out.spec), Object.prototype);
  });
});
