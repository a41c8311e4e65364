import { strict as assert } from "node:assert";
import { request as httpsRawRequest } from "node:https";
import fastJsonPatch from "fast-json-patch";
import { applyDefaults } from "../../shared/index.js";
import {
  admissionReview,
  answerOf,
  decodePatch,
  httpGet,
  httpsRequest,
  mintCerts,
  rqCluster,
  tempDir,
  WebhookProcess,
  type HttpResult,
} from "../../testenv/webhookProcess.js";

const MUTATE = "/mutate-rqlite-io-v1alpha1-rqcluster";
const VALIDATE = "/validate-rqlite-io-v1alpha1-rqcluster";
const CONFIGMAP = "/validate-v1-configmap-pod-template";

describe("webhook over HTTPS", () => {
  let server: WebhookProcess;
  let ca: Buffer;
  const post = (path: string, body: unknown, headers?: Record<string, string>): Promise<HttpResult> =>
    httpsRequest(server.port, path, ca, { body: typeof body === "string" ? body : JSON.stringify(body), headers });
  const admitted = async (path: string, body: unknown) => answerOf(await post(path, body));

  before(async () => {
    const dir = await tempDir("webhook-certs");
    ({ ca } = await mintCerts(dir));
    server = await WebhookProcess.start(dir);
  });

  after(async () => {
    assert.equal(await server.stop(), 0, server.output());
  });

  async function assertHealthy(): Promise<void> {
    const res = await httpsRequest(server.port, "/healthz", ca);
    assert.equal(res.status, 200);
    assert.equal(server.child.exitCode, null, "the webhook process is still running");
  }

  describe("probes", () => {
    it("answers /healthz and /readyz on the HTTPS port and on the metrics port", async () => {
      for (const path of ["/healthz", "/readyz"]) {
        const tls = await httpsRequest(server.port, path, ca);
        assert.equal(tls.status, 200);
        assert.equal(tls.text, "ok");
        assert.deepEqual(await httpGet(server.metricsPort, path), { status: 200, text: "ok" });
      }
    });

    it("answers unknown paths with a JSON 404 naming the webhooks", async () => {
      const res = await httpsRequest(server.port, "/nope", ca);
      assert.equal(res.status, 404);
      assert.match((JSON.parse(res.text) as { message: string }).message, /\/validate-rqlite-io-v1alpha1-rqcluster/);
    });
  });

  describe(MUTATE, () => {
    it("fills every default of a new RqCluster as a JSON Patch and echoes the uid", async () => {
      const object = rqCluster("demo", { replicas: 5 });
      const review = admissionReview({ object });
      const answer = await admitted(MUTATE, review);
      assert.equal(answer.uid, review.request.uid);
      assert.equal(answer.allowed, true);
      assert.equal(answer.patchType, "JSONPatch");
      const patch = decodePatch(answer);
      const patched = fastJsonPatch.applyPatch(structuredClone(object), patch as fastJsonPatch.Operation[]).newDocument;
      assert.deepEqual(patched, applyDefaults(object));
      const paths = patch.map((op) => op.path);
      for (const p of ["/spec/image", "/spec/storage", "/spec/resources", "/spec/readReplicas"])
        assert.ok(paths.includes(p), `patch sets ${p}: ${paths.join(", ")}`);
      assert.ok(!paths.includes("/spec/replicas"), "a value the user set is left alone");
    });

    it("sends no patch when the object is already defaulted", async () => {
      const answer = await admitted(MUTATE, admissionReview({ object: applyDefaults(rqCluster("demo", {})) }));
      assert.equal(answer.allowed, true);
      assert.equal(answer.patch, undefined);
      assert.equal(answer.patchType, undefined);
    });

    it("defaults on UPDATE too and lets DELETE through untouched", async () => {
      const old = applyDefaults(rqCluster("demo", {}));
      const update = await admitted(
        MUTATE,
        admissionReview({ operation: "UPDATE", oldObject: old, object: rqCluster("demo", { replicas: 3 }) }),
      );
      assert.ok(decodePatch(update).some((op) => op.path === "/spec/storage"));
      const del = await admitted(MUTATE, admissionReview({ operation: "DELETE", oldObject: old }));
      assert.deepEqual([del.allowed, del.patch], [true, undefined]);
    });
  });

  describe(VALIDATE, () => {
    it("allows a valid RqCluster with no status and no warnings", async () => {
      const review = admissionReview({ object: applyDefaults(rqCluster("demo", {})) });
      const answer = await admitted(VALIDATE, review);
      assert.deepEqual(answer, { uid: review.request.uid, allowed: true });
    });

    it("denies an invalid spec with 422 Invalid listing every field error", async () => {
      const object = applyDefaults(
        rqCluster("demo", {
          replicas: 12,
          readReplicas: -1,
          imagePullPolicy: "Sometimes",
          storage: { size: "10Mi", reclaimPolicy: "Keep" },
          affinity: { podAntiAffinity: "Always" },
          updateStrategy: { type: "Recreate" },
        }),
      );
      const answer = await admitted(VALIDATE, admissionReview({ object }));
      assert.equal(answer.allowed, false);
      assert.equal(answer.status?.code, 422);
      assert.equal(answer.status?.reason, "Invalid");
      const message = answer.status.message;
      assert.match(message, /^RqCluster\.rqlite\.io "demo" is invalid: \[/);
      const fields = [
        "spec.replicas",
        "spec.readReplicas",
        "spec.imagePullPolicy",
        "spec.storage.size",
        "spec.storage.reclaimPolicy",
        "spec.affinity.podAntiAffinity",
        "spec.updateStrategy.type",
      ];
      for (const f of fields) assert.ok(message.includes(`${f}: `), `message names ${f}: ${message}`);
      assert.match(message, /spec\.replicas: Invalid value: 12: must be between 1 and 9/);
      assert.deepEqual(new Set(answer.status.details!.causes.map((c) => c.field)), new Set(fields));
    });

    it("denies operator-owned pod template fields with their paths", async () => {
      const object = applyDefaults(
        rqCluster("demo", {
          podTemplate: {
            metadata: { labels: { "rqlite.io/cluster": "other" } },
            spec: { hostname: "x", containers: [{ name: "rqlite", image: "evil:1" }] },
          },
          extraArgs: ["-http-addr=0.0.0.0:4001"],
        }),
      );
      const answer = await admitted(VALIDATE, admissionReview({ object }));
      assert.equal(answer.allowed, false);
      const fields = answer.status!.details!.causes.map((c) => c.field);
      for (const f of [
        "spec.podTemplate.spec.hostname",
        "spec.podTemplate.spec.containers[0].image",
        "spec.extraArgs[0]",
      ]) {
        assert.ok(fields.includes(f), `causes include ${f}: ${fields.join(", ")}`);
      }
      assert.ok(
        fields.some((f) => f.startsWith("spec.podTemplate.metadata.labels")),
        fields.join(", "),
      );
    });

    it("returns warnings with an allowed answer", async () => {
      const answer = await admitted(
        VALIDATE,
        admissionReview({ object: applyDefaults(rqCluster("demo", { replicas: 4, image: "rqlite/rqlite:latest" })) }),
      );
      assert.equal(answer.allowed, true);
      assert.equal(answer.warnings?.length, 2, JSON.stringify(answer.warnings));
      assert.ok(answer.warnings.some((w) => w.startsWith("spec.replicas:")));
      assert.ok(answer.warnings.some((w) => w.startsWith("spec.image:")));
    });

    it("returns warnings with a denial too", async () => {
      const answer = await admitted(
        VALIDATE,
        admissionReview({ object: applyDefaults(rqCluster("demo", { replicas: 12, image: "rqlite/rqlite" })) }),
      );
      assert.equal(answer.allowed, false);
      assert.ok(answer.warnings!.some((w) => w.startsWith("spec.image:")));
    });

    it("applies the update rules: no downgrade, no shrink, immutable storage class", async () => {
      const old = applyDefaults(
        rqCluster("demo", { image: "rqlite/rqlite:10.1.0", storage: { size: "10Gi", storageClassName: "fast" } }),
      );
      const next = applyDefaults(
        rqCluster("demo", { image: "rqlite/rqlite:9.0.0", storage: { size: "5Gi", storageClassName: "slow" } }),
      );
      const answer = await admitted(VALIDATE, admissionReview({ operation: "UPDATE", oldObject: old, object: next }));
      assert.equal(answer.allowed, false);
      const fields = answer.status!.details!.causes.map((c) => c.field).sort();
      assert.deepEqual(fields, ["spec.image", "spec.storage.size", "spec.storage.storageClassName"]);
    });

    it("allows DELETE and subresource requests without looking at them", async () => {
      const del = await admitted(
        VALIDATE,
        admissionReview({ operation: "DELETE", oldObject: rqCluster("demo", { replicas: 99 }) }),
      );
      assert.equal(del.allowed, true);
      const status = await admitted(
        VALIDATE,
        admissionReview({
          operation: "UPDATE",
          subResource: "status",
          oldObject: rqCluster("demo", { replicas: 99 }),
          object: rqCluster("demo", { replicas: 99 }),
        }),
      );
      assert.equal(status.allowed, true);
    });
  });

  describe(CONFIGMAP, () => {
    const CM_KIND = { group: "", version: "v1", kind: "ConfigMap" };
    const configMap = (
      data: Record<string, string>,
      labels: Record<string, string> = { "rqlite.io/pod-template": "" },
    ) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "tpl", namespace: "default", labels },
      data,
    });

    it("allows a labelled ConfigMap with a valid template", async () => {
      const answer = await admitted(
        CONFIGMAP,
        admissionReview({
          kind: CM_KIND,
          object: configMap({
            "pod-template.json": JSON.stringify({
              metadata: { labels: { team: "a" } },
              spec: { priorityClassName: "high" },
            }),
          }),
        }),
      );
      assert.equal(answer.allowed, true);
    });

    it("denies a labelled ConfigMap whose template touches what the operator owns", async () => {
      const answer = await admitted(
        CONFIGMAP,
        admissionReview({
          kind: CM_KIND,
          object: configMap({
            "pod-template.json": JSON.stringify({ spec: { restartPolicy: "Never" } }),
            "broken.json": "{",
          }),
        }),
      );
      assert.equal(answer.allowed, false);
      assert.equal(answer.status?.code, 422);
      assert.match(answer.status.message, /^ConfigMap "tpl" is invalid: \[/);
      const fields = answer.status.details!.causes.map((c) => c.field);
      assert.ok(fields.includes("data[pod-template.json].spec.restartPolicy"), fields.join(", "));
      assert.ok(fields.includes("data[broken.json]"), fields.join(", "));
    });

    it("ignores a ConfigMap without the label", async () => {
      const answer = await admitted(
        CONFIGMAP,
        admissionReview({ kind: CM_KIND, object: configMap({ "x.json": "{" }, {}) }),
      );
      assert.equal(answer.allowed, true);
    });

    it("denies an update that drops the label and changes the template at once, not either alone", async () => {
      const good = { "pod-template.json": "{}" };
      const bad = { "pod-template.json": JSON.stringify({ spec: { hostNetwork: true } }) };
      const update = (oldObject: object, object: object) =>
        admitted(CONFIGMAP, admissionReview({ kind: CM_KIND, operation: "UPDATE", oldObject, object }));
      const slipped = await update(configMap(good), configMap(bad, {}));
      assert.equal(slipped.allowed, false);
      assert.deepEqual(
        slipped.status!.details!.causes.map((c) => c.field),
        ["metadata.labels[rqlite.io/pod-template]"],
      );
      assert.match(slipped.status!.message, /remove the label first, then change the content/);
      assert.equal((await update(configMap(good), configMap(good, {}))).allowed, true, "dropping the label alone");
      assert.equal((await update(configMap(good, {}), configMap(bad, {}))).allowed, true, "never a template");
    });
  });

  describe("malformed requests", () => {
    const withUid = (request: Record<string, unknown>) => ({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: { ...request, uid: "abc" },
    });
    const validRequest = () => admissionReview({ object: rqCluster("demo", {}) }).request;

    /** Answered as a bare HTTP error: there is no uid to echo. */
    const httpErrors: [string, string, number, RegExp][] = [
      ["a body that is not JSON", "{not json", 400, /not valid JSON/],
      ["an empty body", "", 400, /empty/],
      ["a JSON array", "[]", 400, /AdmissionReview object, got an array/],
      ["JSON null", "null", 400, /got null/],
      ["a JSON string", '"AdmissionReview"', 400, /got a string/],
      [
        "no request",
        JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }),
        400,
        /request must be an object/,
      ],
      [
        "a request without uid",
        JSON.stringify({
          apiVersion: "admission.k8s.io/v1",
          kind: "AdmissionReview",
          request: { ...validRequest(), uid: undefined },
        }),
        400,
        /uid/,
      ],
      [
        "a numeric uid",
        JSON.stringify({
          apiVersion: "admission.k8s.io/v1",
          kind: "AdmissionReview",
          request: { ...validRequest(), uid: 7 },
        }),
        400,
        /uid/,
      ],
      [
        "the wrong kind and no uid",
        JSON.stringify({ apiVersion: "v1", kind: "Pod" }),
        400,
        /expected apiVersion admission\.k8s\.io\/v1/,
      ],
    ];
    for (const [what, body, code, message] of httpErrors) {
      it(`answers ${what} with HTTP ${code} and a JSON Status`, async () => {
        const res = await post(VALIDATE, body);
        assert.equal(res.status, code, res.text);
        const status = JSON.parse(res.text) as { kind: string; code: number; message: string };
        assert.equal(status.kind, "Status");
        assert.equal(status.code, code);
        assert.match(status.message, message);
        await assertHealthy();
      });
    }

    /** Answered as an AdmissionReview denial with code 400, echoing the uid. */
    const reviewErrors: [string, string, unknown, RegExp][] = [
      [
        "admission.k8s.io/v1beta1",
        VALIDATE,
        { ...withUid(validRequest()), apiVersion: "admission.k8s.io/v1beta1" },
        /expected apiVersion admission\.k8s\.io\/v1/,
      ],
      [
        "the wrong kind of review",
        VALIDATE,
        { ...withUid(validRequest()), kind: "TokenReview" },
        /kind AdmissionReview/,
      ],
      [
        "a string spec on validate",
        VALIDATE,
        withUid({ ...validRequest(), object: rqCluster("demo", "big") }),
        /spec must be an object, got a string/,
      ],
      [
        "an array spec on mutate",
        MUTATE,
        withUid({ ...validRequest(), object: rqCluster("demo", [1]) }),
        /spec must be an object, got an array/,
      ],
      [
        "a null spec",
        MUTATE,
        withUid({ ...validRequest(), object: rqCluster("demo", null) }),
        /spec must be an object, got null/,
      ],
      [
        "a CREATE without object",
        VALIDATE,
        withUid({ ...validRequest(), object: null }),
        /request\.object must be an object on CREATE/,
      ],
      [
        "an UPDATE without oldObject",
        VALIDATE,
        withUid({ ...validRequest(), operation: "UPDATE" }),
        /oldObject must be an object/,
      ],
      [
        "an unknown operation",
        VALIDATE,
        withUid({ ...validRequest(), operation: "PATCH" }),
        /operation must be one of/,
      ],
      [
        "a missing request.kind",
        VALIDATE,
        withUid({ ...validRequest(), kind: undefined }),
        /request\.kind must be an object/,
      ],
      [
        "another resource's kind",
        VALIDATE,
        withUid({ ...validRequest(), kind: { group: "apps", version: "v1", kind: "Deployment" } }),
        /admits rqlite\.io\/v1alpha1 RqCluster, got apps\/v1 Deployment/,
      ],
      [
        "a non-string namespace",
        MUTATE,
        withUid({ ...validRequest(), namespace: 5 }),
        /request\.namespace must be a string/,
      ],
    ];
    for (const [what, path, body, message] of reviewErrors) {
      it(`answers ${what} with allowed:false, code 400 and the uid`, async () => {
        const answer = answerOf(await post(path, body));
        assert.equal(answer.uid, "abc");
        assert.equal(answer.allowed, false);
        assert.equal(answer.status?.code, 400);
        assert.equal(answer.status?.reason, "BadRequest");
        assert.match(answer.status.message, message);
        await assertHealthy();
      });
    }

    it("answers a wrong Content-Type with 415", async () => {
      const res = await post(VALIDATE, JSON.stringify(admissionReview({ object: rqCluster("demo", {}) })), {
        "content-type": "text/plain",
      });
      assert.equal(res.status, 415);
      assert.match((JSON.parse(res.text) as { message: string }).message, /application\/json, got text\/plain/);
      await assertHealthy();
    });

    it("answers a body over the 6 MiB default limit with 413 and closes that connection", async () => {
      const huge = JSON.stringify(
        admissionReview({ object: rqCluster("demo", {}, { annotations: { big: "x".repeat(6 * 1024 * 1024) } }) }),
      );
      // The server answers from the declared length without reading the body, and closes: a client
      // still writing the rest would race that close (EPIPE), so this one sends the start and waits.
      const res = await new Promise<{ status: number; connection: string | undefined; text: string }>(
        (resolve, reject) => {
          let answered = false;
          const req = httpsRawRequest(
            {
              host: "127.0.0.1",
              port: server.port,
              path: VALIDATE,
              method: "POST",
              ca,
              servername: "localhost",
              headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(huge)) },
            },
            (r) => {
              answered = true;
              const chunks: Buffer[] = [];
              r.on("data", (c: Buffer) => chunks.push(c));
              r.on("end", () => {
                resolve({
                  status: r.statusCode!,
                  connection: r.headers.connection,
                  text: Buffer.concat(chunks).toString(),
                });
                req.destroy();
              });
            },
          );
          req.on("error", (err) => {
            if (!answered) reject(err);
          });
          req.write(huge.slice(0, 64 * 1024));
        },
      );
      assert.equal(res.status, 413);
      assert.equal(res.connection, "close");
      assert.match((JSON.parse(res.text) as { message: string }).message, /6291456-byte limit/);
      await assertHealthy();
    });

    it("stops reading a chunked body once it passes the limit", async function () {
      this.timeout(10_000);
      const res = await new Promise<number>((resolve, reject) => {
        const req = httpsRawRequest(
          {
            host: "127.0.0.1",
            port: server.port,
            path: VALIDATE,
            method: "POST",
            ca,
            servername: "localhost",
            headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
          },
          (r) => {
            r.resume();
            resolve(r.statusCode!);
          },
        );
        req.on("error", reject);
        const chunk = Buffer.alloc(256 * 1024, 0x20);
        let sent = 0;
        const pump = () => {
          while (sent < 128) {
            sent++;
            if (!req.write(chunk)) {
              req.once("drain", pump);
              return;
            }
          }
          req.end();
        };
        pump();
      }).catch((err: NodeJS.ErrnoException) => err.code);
      // The server answers 413 as soon as 6 MiB have arrived; the client may see the reset first.
      assert.ok(res === 413 || res === "ECONNRESET" || res === "EPIPE", `got ${String(res)}`);
      await assertHealthy();
    });

    it("accepts an UPDATE of a 3 MiB object over a 1.5 MiB one, as kube-apiserver can send", async () => {
      const big = (mib: number) =>
        applyDefaults(rqCluster("demo", {}, { annotations: { big: "x".repeat(mib * 1024 * 1024) } }));
      const review = admissionReview({ operation: "UPDATE", object: big(3), oldObject: big(1.5) });
      assert.equal((await admitted(VALIDATE, review)).allowed, true);
    });

    it("survives deeply nested JSON", async () => {
      const depth = 200_000;
      const arrays = `${"[".repeat(depth)}${"]".repeat(depth)}`;
      const objects = `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
      const withSpec = (spec: string) =>
        `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":${JSON.stringify(validRequest()).replace(/"spec":\{\}/, `"spec":${spec}`)}}`;
      const validated = answerOf(await post(VALIDATE, withSpec(`{"env":${arrays}}`)));
      assert.equal(validated.allowed, false);
      const mutated = answerOf(await post(MUTATE, withSpec(`{"podTemplate":{"metadata":{"annotations":${objects}}}}`)));
      assert.equal(mutated.allowed, false);
      assert.equal(mutated.status?.code, 400);
      assert.match(mutated.status.message, /nested too deeply/);
      await assertHealthy();
    });
  });

  describe("observability", () => {
    it("exports controller-runtime's webhook metrics and process metrics", async () => {
      await admitted(VALIDATE, admissionReview({ object: applyDefaults(rqCluster("demo", {})) }));
      await post(MUTATE, "{");
      const text = (await httpGet(server.metricsPort, "/metrics")).text;
      assert.match(
        text,
        /controller_runtime_webhook_requests_total\{webhook="\/validate-rqlite-io-v1alpha1-rqcluster",code="200"\} [1-9]/,
      );
      assert.match(
        text,
        /controller_runtime_webhook_requests_total\{webhook="\/mutate-rqlite-io-v1alpha1-rqcluster",code="400"\} [1-9]/,
      );
      assert.match(
        text,
        /controller_runtime_webhook_latency_seconds_count\{webhook="\/validate-rqlite-io-v1alpha1-rqcluster"\} [1-9]/,
      );
      assert.match(
        text,
        /controller_runtime_webhook_latency_seconds_bucket\{le="0.005",webhook="\/validate-rqlite-io-v1alpha1-rqcluster"\}/,
      );
      assert.match(
        text,
        /controller_runtime_webhook_requests_in_flight\{webhook="\/validate-v1-configmap-pod-template"\} 0/,
      );
      assert.match(text, /certwatcher_read_certificate_total 1/);
      assert.match(text, /process_cpu_seconds_total/);
      assert.match(text, /nodejs_eventloop_lag_seconds/);
      // Not on the admission port, which every Pod may reach.
      assert.equal((await httpsRequest(server.port, "/metrics", ca)).status, 404);
    });

    it("logs one structured line per admission", async () => {
      const review = admissionReview({ object: applyDefaults(rqCluster("logged", { replicas: 12 })) });
      await admitted(VALIDATE, review);
      const line = await server.waitForLog((l) => l.uid === review.request.uid);
      assert.deepEqual(
        {
          kind: line.kind,
          namespace: line.namespace,
          name: line.name,
          operation: line.operation,
          allowed: line.allowed,
          code: line.code,
          level: line.level,
        },
        {
          kind: "RqCluster",
          namespace: "default",
          name: "logged",
          operation: "CREATE",
          allowed: false,
          code: 422,
          level: "info",
        },
      );
      assert.equal(typeof line.latencyMs, "number");
      assert.equal(typeof line.time, "string");
    });
  });
});
