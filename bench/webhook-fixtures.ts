// Realistic AdmissionReview bodies for the webhook benchmark and for profiling its handlers.
import { applyDefaults } from "../shared/index.js";
import { admissionReview, rqCluster } from "../testenv/webhookProcess.js";

/** A spec as users write them, with a pod template and extras. */
export function realisticSpec(name: string): Record<string, unknown> {
  return {
    replicas: 3,
    readReplicas: 2,
    image: "rqlite/rqlite:10.2.0",
    storage: { storageClassName: "fast-ssd", size: "20Gi" },
    resources: { requests: { cpu: "500m", memory: "512Mi" }, limits: { cpu: "2", memory: "1Gi" } },
    auth: { secretName: `${name}-users` },
    tls: { http: { secretName: `${name}-http-tls` }, node: { secretName: `${name}-node-tls` } },
    extraArgs: ["-raft-snap=8192", "-raft-log-level=WARN", "-join-interval=3s"],
    env: [
      { name: "TZ", value: "UTC" },
      { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
    ],
    podTemplate: {
      metadata: { labels: { team: "payments", tier: "db" }, annotations: { "prometheus.io/scrape": "true" } },
      spec: {
        priorityClassName: "high",
        tolerations: [{ key: "dedicated", operator: "Equal", value: "db", effect: "NoSchedule" }],
        containers: [
          {
            name: "backup-sidecar",
            image: "example.com/rqlite-backup:1.4.2",
            args: ["--interval=15m"],
            resources: { requests: { cpu: "50m", memory: "64Mi" } },
            volumeMounts: [{ name: "backup", mountPath: "/backup" }],
          },
        ],
        volumes: [{ name: "backup", emptyDir: { sizeLimit: "2Gi" } }],
      },
    },
  };
}

/** A cluster as kubectl apply stores it: last-applied-configuration, managedFields, defaults not yet filled. */
function realisticCluster(name: string): Record<string, unknown> {
  const spec = realisticSpec(name);
  const applied = JSON.stringify({
    apiVersion: "rqlite.io/v1alpha1",
    kind: "RqCluster",
    metadata: { name, namespace: "payments" },
    spec,
  });
  return rqCluster(name, spec, {
    namespace: "payments",
    uid: "8f2c7a7e-3a55-4c1e-9a41-0e8e8bd1c9b1",
    generation: 4,
    resourceVersion: "918273",
    creationTimestamp: "2026-01-01T00:00:00Z",
    labels: { "app.kubernetes.io/part-of": "payments" },
    annotations: { "kubectl.kubernetes.io/last-applied-configuration": applied },
    managedFields: [
      {
        manager: "kubectl-client-side-apply",
        operation: "Update",
        apiVersion: "rqlite.io/v1alpha1",
        time: "2026-01-01T00:00:00Z",
        fieldsType: "FieldsV1",
        fieldsV1: { "f:spec": { ".": {}, "f:replicas": {}, "f:image": {}, "f:storage": { ".": {}, "f:size": {} } } },
      },
    ],
  });
}

/** Validation sees CREATEs and UPDATEs (with both objects); mutation sees the raw object. */
export function benchBodies(): { validate: string[]; mutate: string[] } {
  const stored = applyDefaults(realisticCluster("orders"));
  const changed = structuredClone(stored) as { spec: { replicas: number; storage: { size: string } } };
  changed.spec.replicas = 5;
  changed.spec.storage.size = "30Gi";
  return {
    validate: [
      JSON.stringify(admissionReview({ object: stored })),
      JSON.stringify(admissionReview({ operation: "UPDATE", oldObject: stored, object: changed })),
    ],
    mutate: [JSON.stringify(admissionReview({ object: realisticCluster("orders") }))],
  };
}
