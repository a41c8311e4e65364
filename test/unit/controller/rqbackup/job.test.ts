// Table tests of the Job a `pvc` RqBackup runs (controller/rqbackup/job.ts): its name, what it
// renders (owner, one Pod, the claim, restricted Pod Security, secrets only by reference), how
// its result is read, toFile.ts's arguments, and the checks its stream runs.
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import {
  BACKUP_MOUNT,
  backupJobName,
  ENV_CA,
  ENV_PASSWORD,
  jobOutcome,
  LABEL_BACKUP_JOB,
  renderBackupJob,
  TO_FILE_ENTRY,
  type BackupJobInput,
} from "../../../../controller/rqbackup/job.js";
import { parseToFileArgs } from "../../../../controller/rqbackup/toFile.js";
import { checkedStream } from "../../../../controller/rqbackup/transfer.js";

const INPUT: BackupJobInput = {
  backup: { name: "nightly", namespace: "db", uid: "uid-1", cluster: "main" },
  attempt: 2,
  image: "ghcr.io/rqlite-operator/rqlite-operator:1.2.3",
  claimName: "backups",
  file: "daily/db-nightly-20261130T120000Z.sqlite.gz",
  leaderUrl: "https://db-0.db-headless.db.svc.cluster.local:4001",
  leaderId: "db-0",
  auth: { username: "rqlite-operator", password: { secretName: "db-operator-auth", key: "operator-password" } },
  ca: { secretName: "db-http-tls", key: "ca.crt" },
  format: "binary",
  compress: true,
  vacuum: false,
  deadlineSeconds: 3600,
};

describe("rqbackup Job (pvc destination)", () => {
  it("names the Job per attempt, within 63 characters, distinct for long names", () => {
    assert.equal(backupJobName("nightly", 1), "nightly-backup-1");
    const long = "a".repeat(60);
    const a = backupJobName(long, 3);
    const b = backupJobName(`${long}b`, 3);
    assert.ok(a.length <= 63 && b.length <= 63, `${a} ${b}`);
    assert.notEqual(a, b);
    assert.match(a, /-backup-3$/);
  });

  it("renders one owned Pod that mounts the claim, runs toFile with the leader, and is restricted", () => {
    const job = renderBackupJob(INPUT);
    assert.equal(job.metadata!.name, "nightly-backup-2");
    assert.deepEqual(job.metadata!.ownerReferences, [
      { apiVersion: "rqlite.io/v1alpha1", kind: "RqBackup", name: "nightly", uid: "uid-1", controller: true },
    ]);
    assert.equal(job.spec!.backoffLimit, 0);
    assert.equal(job.spec!.activeDeadlineSeconds, 3600, "a trickling source ends at --backup-deadline");
    const pod = job.spec!.template.spec!;
    assert.equal(job.spec!.template.metadata!.labels![LABEL_BACKUP_JOB], "nightly");
    assert.equal(
      job.spec!.template.metadata!.labels!["rqlite.io/backup-of"],
      "main",
      "the cluster's NetworkPolicy admits it",
    );
    assert.equal(pod.restartPolicy, "Never");
    assert.equal(pod.automountServiceAccountToken, false);
    assert.deepEqual(pod.volumes, [{ name: "backup", persistentVolumeClaim: { claimName: "backups" } }]);
    assert.equal(pod.securityContext!.runAsNonRoot, true);
    assert.deepEqual(pod.securityContext!.seccompProfile, { type: "RuntimeDefault" });
    const c = pod.containers[0]!;
    assert.equal(c.image, INPUT.image);
    assert.deepEqual(c.command, ["node", TO_FILE_ENTRY]);
    assert.ok(c.args!.includes(`--file=${BACKUP_MOUNT}/${INPUT.file}`));
    assert.ok(c.args!.includes(`--source=${INPUT.leaderUrl}`));
    assert.ok(c.args!.includes("--username=rqlite-operator"));
    assert.equal(c.securityContext!.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext!.capabilities, { drop: ["ALL"] });
    assert.equal(c.securityContext!.runAsNonRoot, true);
    assert.deepEqual(c.securityContext!.seccompProfile, { type: "RuntimeDefault" });
    assert.deepEqual(c.volumeMounts, [{ name: "backup", mountPath: BACKUP_MOUNT }]);
    assert.equal(c.terminationMessagePath, "/dev/termination-log");
    // Secrets only by reference: no value anywhere in the rendered object.
    assert.deepEqual(c.env, [
      { name: ENV_PASSWORD, valueFrom: { secretKeyRef: { name: "db-operator-auth", key: "operator-password" } } },
      { name: ENV_CA, valueFrom: { secretKeyRef: { name: "db-http-tls", key: "ca.crt" } } },
    ]);
  });

  it("renders no credentials for a cluster without auth or TLS", () => {
    const { auth: _a, ca: _c, ...plain } = INPUT;
    const c = renderBackupJob({ ...plain, leaderUrl: "http://10.0.0.1:4001" }).spec!.template.spec!.containers[0]!;
    assert.deepEqual(c.env, []);
    assert.ok(!c.args!.some((a) => a.startsWith("--username")));
  });

  const job = (conditions: Array<{ type: string; status: string; reason?: string; message?: string }>): V1Job => ({
    metadata: { name: "nightly-backup-2", namespace: "db" },
    status: { conditions: conditions.map((c) => ({ ...c, lastTransitionTime: new Date() })) },
  });
  const pod = (message: string | undefined, exitCode = 0): V1Pod => ({
    status: {
      containerStatuses: [
        {
          name: "backup",
          image: "x",
          imageID: "",
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode, ...(message === undefined ? {} : { message }) } },
        },
      ],
    },
  });
  const SHA = "a".repeat(64);
  const cases: Array<[string, V1Job, V1Pod[], ReturnType<typeof jobOutcome>]> = [
    ["no condition yet: running", job([]), [], { kind: "running" }],
    [
      "Complete with a report: succeeded",
      job([{ type: "Complete", status: "True" }]),
      [pod(JSON.stringify({ size: 42, sha256: SHA }))],
      { kind: "succeeded", size: 42, sha256: SHA },
    ],
    [
      "Complete without a report: failed, says so",
      job([{ type: "Complete", status: "True" }]),
      [pod(undefined)],
      { kind: "failed", reason: "Job db/nightly-backup-2 succeeded but its Pod reported no size and sha256" },
    ],
    [
      "Failed with toFile's error",
      job([{ type: "Failed", status: "True", reason: "BackoffLimitExceeded" }]),
      [pod(JSON.stringify({ error: "writing /backup/x failed: EACCES" }), 1)],
      { kind: "failed", reason: "Job db/nightly-backup-2 failed: writing /backup/x failed: EACCES" },
    ],
    [
      "Failed with a crash's log tail",
      job([{ type: "Failed", status: "True", reason: "BackoffLimitExceeded" }]),
      [pod("Error: Cannot find module", 1)],
      { kind: "failed", reason: "Job db/nightly-backup-2 failed (exit code 1: Error: Cannot find module)" },
    ],
    [
      "Failed with no Pod left: the Job's own reason",
      job([{ type: "Failed", status: "True", reason: "PodFailurePolicy", message: "Container backup failed" }]),
      [],
      { kind: "failed", reason: "Job db/nightly-backup-2 failed (Container backup failed)" },
    ],
    [
      "Failed at its deadline: says which limit",
      {
        ...job([{ type: "Failed", status: "True", reason: "DeadlineExceeded", message: "Job was active longer" }]),
        spec: { activeDeadlineSeconds: 60, template: {} },
      },
      [pod(undefined, 137)],
      {
        kind: "failed",
        reason:
          "Job db/nightly-backup-2 did not finish within its activeDeadlineSeconds (60 s, the operator's --backup-deadline) and was stopped",
      },
    ],
  ];
  cases.push([
    "not finished, its Pod unschedulable: running, saying why",
    job([]),
    [
      {
        status: {
          phase: "Pending",
          conditions: [
            {
              type: "PodScheduled",
              status: "False",
              reason: "Unschedulable",
              message: "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
            },
          ],
        },
      },
    ],
    {
      kind: "running",
      waiting:
        "the Pod of Job db/nightly-backup-2 cannot be scheduled (Unschedulable: 0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims.); check that the claim is Bound or can bind (kubectl describe pvc)",
    },
  ]);
  for (const [name, j, pods, want] of cases) {
    it(`reads the result: ${name}`, () => assert.deepEqual(jobOutcome(j, pods), want));
  }

  it("toFile: parses its arguments and takes secrets only from env", () => {
    const o = parseToFileArgs(
      ["--source=http://127.0.0.1:4001", "--file=/backup/x.sql", "--format=sql", "--compress=false", "--username=u"],
      { [ENV_PASSWORD]: "pw", [ENV_CA]: "PEM" },
    );
    assert.equal(o.format, "sql");
    assert.equal(o.compress, false);
    assert.equal(o.password, "pw");
    assert.equal(o.ca, "PEM");
    assert.throws(() => parseToFileArgs(["--source=http://x", "--file=/f", "--username=u"], {}), /RQLITE_PASSWORD/);
    assert.throws(() => parseToFileArgs(["--source=http://x", "--file=/f", "--format=csv"], {}), /binary or sql/);
  });

  it("checkedStream: hashes and counts what passes, and errors on a cut-off SQL dump", async () => {
    const whole = "BEGIN TRANSACTION;\nCREATE TABLE t (id INTEGER);\nCOMMIT;\n";
    const ok = checkedStream(
      { body: Readable.from([Buffer.from(whole)]), contentType: undefined, servedBy: undefined },
      {
        format: "sql",
        compress: false,
      },
    );
    const chunks: Buffer[] = [];
    for await (const c of ok.body) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), whole);
    assert.deepEqual(ok.result(), {
      size: whole.length,
      sha256: createHash("sha256").update(whole).digest("hex"),
    });
    const cut = checkedStream(
      {
        body: Readable.from([Buffer.from("BEGIN TRANSACTION;\nCREATE TA")]),
        contentType: undefined,
        servedBy: undefined,
      },
      { format: "sql", compress: false },
    );
    await assert.rejects(async () => {
      for await (const _ of cut.body) void _;
    }, /does not end with "COMMIT;"/);
  });
});
