// RqScheduledBackup end to end on the scheduling plane (kube-scheduler, kube-controller-manager
// with its Job, garbage and disruption controllers) with the local runtime as the kubelet: two
// schedules of `@every 5s` (the documented interval descriptor; a five-field cron fires at most
// once a minute), one to a real S3-compatible server (versitygw) and one to a PVC, each fire at
// least four times while a writer inserts rows under the invariant monitor. Retention keeps the
// newest two of each: the pruned RqBackups are gone, and so are their S3 objects and files; what
// is left in the bucket and the claim's folder is exactly what the kept RqBackups say. A bad
// schedule and a bad time zone are refused by the webhook with their field paths.
import { strict as assert } from "node:assert";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { V1PersistentVolume, V1PersistentVolumeClaim } from "@kubernetes/client-node";
import { listObjects } from "../../controller/access/s3.js";
import type { RqBackup } from "../../controller/rqbackup/types.js";
import type { RqScheduledBackupStatus } from "../../shared/index.js";
import { eventually as eventuallyWithin } from "../../testenv/eventually.js";
import { startS3Server, type S3TestServer } from "../../testenv/s3.js";
import { createCredentialsSecret } from "./backupData.js";
import { monitoredChange } from "./monitoredChange.js";
import { assertRowsOnEveryNode, createRowsTable, type AckedRow } from "./rows.js";
import { startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";

const eventually = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 300_000) =>
  eventuallyWithin(what, check, timeoutMs, { intervalMs: 500 });

const CLUSTER = "sched";
const PODS = ["sched-0", "sched-1", "sched-2"];
const BUCKET = "scheduled";
const CLAIM = "backups";
const CREDENTIALS = "s3-credentials";
const KEEP = 2;
const FIRINGS = 4;
const SCHEDULES = { s3: "nightly-s3", pvc: "nightly-pvc" } as const;

describe("RqScheduledBackup: a cron schedule to S3 and to a PVC, with retention", function () {
  this.timeout(900_000);
  let env: ScheduledEnv;
  let s3: S3TestServer;
  const acked: AckedRow[] = [];
  const figures: Record<string, string> = {};
  /** Every RqBackup each schedule was seen to create, by schedule. */
  const seen: Record<string, Set<string>> = { [SCHEDULES.s3]: new Set(), [SCHEDULES.pvc]: new Set() };

  const children = async (schedule: string): Promise<RqBackup[]> =>
    (
      JSON.parse(
        await env.kubectl(["get", "rqbackup", "-l", `rqlite.io/scheduled-backup=${schedule}`, "-o", "json"]),
      ) as { items: RqBackup[] }
    ).items;
  const scheduleStatus = async (name: string): Promise<RqScheduledBackupStatus> =>
    (
      JSON.parse(await env.kubectl(["get", "rqscheduledbackup", name, "-o", "json"])) as {
        status?: RqScheduledBackupStatus;
      }
    ).status ?? {};
  const objects = async () => {
    const c = s3.client();
    try {
      return (await listObjects(c, BUCKET, "")).map((o) => o.key).sort();
    } finally {
      c.destroy();
    }
  };
  const claimFolder = async () => {
    const pvc = await env.client.request<V1PersistentVolumeClaim>({
      method: "GET",
      path: `/api/v1/namespaces/${env.ns}/persistentvolumeclaims/${CLAIM}`,
    });
    const pv = await env.client.request<V1PersistentVolume>({
      method: "GET",
      path: `/api/v1/persistentvolumes/${pvc.spec!.volumeName}`,
    });
    return pv.spec!.hostPath!.path;
  };
  const files = async () =>
    (await readdir(join(await claimFolder(), "nightly")).catch(() => [] as string[])).map((f) => `nightly/${f}`).sort();
  const schedule = (name: string, destination: object, extra: object = {}) =>
    JSON.stringify({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqScheduledBackup",
      metadata: { name },
      spec: {
        schedule: "@every 5s",
        successfulBackupsHistoryLimit: KEEP,
        backup: { cluster: CLUSTER, destination },
        ...extra,
      },
    });
  const s3Destination = () => ({
    s3: {
      bucket: BUCKET,
      path: "nightly",
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentialsSecret: { name: CREDENTIALS },
    },
  });

  before(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
    env = await startScheduledEnv({
      prefix: "rqsb",
      nodes: 3,
      s3EndpointAllow: "127.0.0.1/32",
      controllerArgs: [
        "--resync-period=3",
        "--backup-job-image=ghcr.io/rqlite-operator/rqlite-operator:e2e",
        "--backup-max-per-namespace=2",
        // The default Lease timings, not the fast ones: this suite runs for minutes on a loaded
        // machine, and a Lease lost ends a controller of this stack for good.
        "--lease-duration=15",
        "--renew-deadline=10",
        "--retry-period=2",
      ],
    });
    await createCredentialsSecret(env.cp, env.ns, CREDENTIALS, s3.credentials);
    await env.applyCluster(CLUSTER, { replicas: 3, image: "rqlite/rqlite:8.43.4" });
    await env.converged(CLUSTER, 3, 240_000);
    await createRowsTable(env.ns, (await env.cluster(CLUSTER)).status.leader!);
    await env.boundClaim(CLAIM);
  });

  afterEach(function () {
    if (this.currentTest?.state !== "failed") return;
    for (const c of env?.stack.controllers ?? []) console.log(`      ${c.proc.name}:\n${c.proc.tail(80)}`);
  });

  after(async () => {
    await env?.cp.kubectl(["delete", "rqsb,rqb,rqc", "--all", "-n", env.ns, "--wait", "--timeout=120s"]);
    await env?.stop();
    await s3?.close();
    console.log(`      figures: ${JSON.stringify(figures, null, 2)}`);
  });

  it("refuses a bad schedule and a bad time zone with their field paths", async () => {
    const refused = async (spec: object, pattern: RegExp) => {
      const out = await env.cp.kubectl(["apply", "-n", env.ns, "-f", "-"], {
        input: schedule("bad", { pvc: { claimName: CLAIM } }, spec),
      });
      assert.notEqual(out.code, 0, "refused");
      assert.match(out.stderr, pattern);
    };
    await refused(
      { schedule: "61 * * * *" },
      /spec\.schedule: Invalid value: "61 \* \* \* \*": minute: 61 is out of range 0-59/,
    );
    await refused({ schedule: "0 0 * * * *" }, /spec\.schedule: .*expected 5 fields/);
    await refused({ timeZone: "Mars/Olympus_Mons" }, /spec\.timeZone: .*not a time zone/);
    await refused(
      { backup: { cluster: CLUSTER, destination: { pvc: { claimName: CLAIM }, s3: s3Destination().s3 } } },
      /spec\.backup\.destination: .*set exactly one of s3 and pvc/,
    );
  });

  it(`fires at least ${FIRINGS} times to S3 and to a PVC while a writer runs, and keeps the newest ${KEEP} of each with their objects and files`, async () => {
    const began = Date.now();
    await monitoredChange(
      {
        name: "schedules",
        client: env.client,
        namespace: env.ns,
        cluster: CLUSTER,
        acked,
        podsAfter: () => PODS,
        figures,
      },
      async () => {
        await env.kubectl(["apply", "-f", "-"], schedule(SCHEDULES.s3, s3Destination()));
        await env.kubectl(
          ["apply", "-f", "-"],
          schedule(SCHEDULES.pvc, { pvc: { claimName: CLAIM, path: "nightly" } }),
        );
        await eventually(`each schedule created ${FIRINGS} RqBackups and retention ran`, async () => {
          for (const name of Object.values(SCHEDULES))
            for (const b of await children(name)) seen[name]!.add(b.metadata!.name!);
          if (Object.values(seen).some((s) => s.size < FIRINGS)) return false;
          for (const name of Object.values(SCHEDULES)) {
            const completed = (await children(name)).filter((b) => b.status?.phase === "Completed");
            if (completed.length > KEEP) return false;
          }
          return true;
        });
        // No new firing from here on; what is running finishes.
        for (const name of Object.values(SCHEDULES))
          await env.kubectl(["patch", "rqscheduledbackup", name, "--type=merge", "-p", '{"spec":{"suspend":true}}']);
        await eventually("no backup of either schedule unfinished, and retention done", async () => {
          for (const name of Object.values(SCHEDULES)) {
            const kids = await children(name);
            if (kids.some((b) => b.status?.phase !== "Completed" && b.status?.phase !== "Failed")) return false;
            if (kids.filter((b) => b.status?.phase === "Completed").length > KEEP) return false;
            const st = await scheduleStatus(name);
            if (st.nextScheduleTime || (st.active ?? []).length > 0) return false;
          }
          return true;
        });
      },
    );
    figures.seconds = ((Date.now() - began) / 1000).toFixed(1);
    for (const [dest, name] of Object.entries(SCHEDULES)) {
      const kids = await children(name);
      const st = await scheduleStatus(name);
      const kept = kids.filter((b) => b.status?.phase === "Completed");
      figures[name] =
        `${seen[name]!.size} RqBackups created, ${kept.length} kept (${kept.map((b) => b.metadata!.name).join(", ")}), ` +
        `${kids.length - kept.length} failed kept; last ${st.lastScheduleTime}, last success ${st.lastSuccessfulBackup}`;
      assert.ok(seen[name]!.size >= FIRINGS, `${name} fired ${seen[name]!.size} times`);
      assert.equal(kept.length, KEEP, `${name} keeps ${KEEP} Completed RqBackups`);
      for (const b of kids) {
        // Named by the firing (whole multiples of 5 s), owned by the schedule.
        const m = new RegExp(`^${name}-(\\d{14})$`).exec(b.metadata!.name!);
        assert.ok(m, `${b.metadata!.name} is <schedule>-<YYYYMMDDHHMMSS>`);
        const at = Date.parse(b.metadata!.annotations!["rqlite.io/scheduled-at"]!);
        assert.equal(at % 5000, 0, "fired on a multiple of 5 s");
        assert.equal(b.metadata!.ownerReferences![0]!.kind, "RqScheduledBackup");
      }
      const newest = [...kept].sort((a, b) => b.metadata!.name!.localeCompare(a.metadata!.name!))[0]!;
      assert.equal(st.lastSuccessfulBackup, newest.metadata!.name);
      assert.ok(st.lastScheduleTime, "lastScheduleTime set");
      assert.equal(st.nextScheduleTime, undefined, "suspended: no next firing");
      const locations = kept.map((b) => b.status!.location!).sort();
      if (dest === "s3") {
        // Every object in the bucket is a kept backup's: the pruned ones' objects are gone.
        assert.deepEqual(
          (await objects()).map((k) => `s3://${BUCKET}/${k}`),
          locations,
        );
      } else {
        assert.deepEqual(
          (await files()).map((f) => `pvc://${CLAIM}/${f}`),
          locations,
        );
      }
    }
    await assertRowsOnEveryNode(env.ns, PODS, acked);
  });
});
