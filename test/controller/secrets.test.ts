// No secret material in the controller's logs, events, status or metrics: a known password is
// planted in every Secret the controller reads, each read is made to fail in each way it can,
// and everything the controller wrote is searched for it. Also: a Secret in the place of the
// operator's own auth Secret that this cluster does not own is left alone (AdoptionConflict).
import { strict as assert } from "node:assert";
import { readFile } from "node:fs/promises";
import type { RqCluster } from "../../shared/index.js";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { operatorKubeconfig, startController, type ControllerProcess } from "../../testenv/controller.js";
import { eventually } from "../../testenv/eventually.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";

const PASSWORD = "Pl4nted-Tr0ub4dor&3-horse";
/** The whole password and pieces of it, in case a message cuts it. */
const PIECES = [PASSWORD, PASSWORD.slice(0, 10), PASSWORD.slice(-10)];

/** Secret -> key -> text, each a way a read of it can fail, every one holding the password. */
const USER_SECRETS: Record<string, Record<string, string>> = {
  "u-badjson": { "users.json": `[{"username":"app","password":"${PASSWORD}"x}]` },
  "u-truncated": { "users.json": `[{"username":"app","password":"${PASSWORD}` },
  "u-bare": { "users.json": PASSWORD },
  "u-notlist": { "users.json": JSON.stringify({ username: "app", password: PASSWORD }) },
  "u-nousername": { "users.json": JSON.stringify([{ user: "app", password: PASSWORD }]) },
  "u-reserved": { "users.json": JSON.stringify([{ username: "rqlite-operator", password: PASSWORD }]) },
  "u-wrongkey": { users: JSON.stringify([{ username: "app", password: PASSWORD }]) },
};

describe("controller: secrets stay out of what it writes", function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let ns: string;
  let controller: ControllerProcess;

  const kubectl = (args: string[], input?: object) =>
    cp.kubectlOk(["-n", ns, ...args], input ? { input: JSON.stringify(input) } : {});
  const secret = (name: string, data: Record<string, string>, extra: object = {}) =>
    kubectl(["apply", "-f", "-"], {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, ...extra },
      stringData: data,
    });
  const cluster = (name: string, spec: object) =>
    kubectl(["apply", "-f", "-"], { apiVersion: "rqlite.io/v1alpha1", kind: "RqCluster", metadata: { name }, spec });
  const log = () => readFile(controller.proc.logFile, "utf8");

  before(async () => {
    cp = await sharedControlPlane();
    const kubeconfig = await operatorKubeconfig(cp);
    ns = await createTestNamespace(cp, "secrets");
    controller = await startController({
      kubeconfig,
      logDir: cp.dir,
      name: "controller-secrets",
      env: { WATCH_NAMESPACES: ns },
    });
  });

  after(async () => {
    await controller?.stop();
  });

  it("names the Secret and the fix, never the password, for every way a read fails", async () => {
    for (const [name, data] of Object.entries(USER_SECRETS)) {
      await secret(name, data);
      await cluster(name.replace(/^u-/, "c-"), { replicas: 1, auth: { secretName: name } });
    }
    // The HTTPS Secret without its CA: the key and certificate hold the password.
    await secret("tls-noca", { "tls.crt": PASSWORD, "tls.key": PASSWORD });
    await cluster("c-tls", { replicas: 1, tls: { http: { secretName: "tls-noca" } } });
    const expected: Record<string, string> = {
      ...Object.fromEntries(
        Object.keys(USER_SECRETS).map((s) => [s.replace(/^u-/, "c-"), `Secret ${ns}/${s} (spec.auth.secretName)`]),
      ),
      "c-tls": `Secret ${ns}/tls-noca (spec.tls.http.secretName) has no key ca.crt`,
    };
    // Each degrades only its own feature: the reconcile goes on and writes status, whose
    // SecretsReady condition names the Secret and the key.
    const messages = await eventually(
      "a SecretsReady=False condition naming each Secret",
      async () => {
        const list = JSON.parse(await kubectl(["get", "rqc", "-o", "json"])) as { items: RqCluster[] };
        const found = Object.fromEntries(
          list.items.map((c) => [
            c.metadata!.name!,
            c.status?.conditions?.find((x) => x.type === "SecretsReady" && x.status === "False")?.message ?? "",
          ]),
        );
        return Object.entries(expected).every(([c, text]) => found[c]?.includes(text)) && found;
      },
      60_000,
    );
    assert.match(
      messages["c-badjson"]!,
      new RegExp(`Secret ${ns}/u-badjson \\(spec.auth.secretName\\) key users.json is not valid JSON at`),
    );
    assert.match(messages["c-wrongkey"]!, /has no key users\.json/);
    assert.match(messages["c-tls"]!, /cannot verify rqlite's HTTPS API/);
    // A cluster that never had a users file creates no Pod until its Secret is usable.
    assert.equal((await cp.kubectl(["-n", ns, "get", "pod", "c-badjson-0"])).code, 1);
    // One without a CA still gets its Pod: rqlite needs only its certificate and key.
    await eventually("c-tls-0 created", async () => (await cp.kubectl(["-n", ns, "get", "pod", "c-tls-0"])).code === 0);
  });

  it("leaves a Secret in the place of its own auth Secret alone when the cluster does not own it", async () => {
    await secret("u-good", { "users.json": JSON.stringify([{ username: "app", password: "app-pass" }]) });
    await secret("c-adopt-operator-auth", { "operator-password": PASSWORD, "users.json": PASSWORD });
    await cluster("c-adopt", { replicas: 1, auth: { secretName: "u-good" } });
    const st = await eventually("an AdoptionConflict condition", async () => {
      const c = JSON.parse(await kubectl(["get", "rqc", "c-adopt", "-o", "json"])) as RqCluster;
      return c.status?.conditions?.some((x) => x.reason === "AdoptionConflict") && c.status;
    });
    assert.match(
      st.conditions!.find((x) => x.reason === "AdoptionConflict")!.message,
      /Secret .*\/c-adopt-operator-auth exists and is not owned by this RqCluster/,
    );
    assert.equal((await cp.kubectl(["-n", ns, "get", "pod", "c-adopt-0"])).code, 1, "no Pod with a foreign Secret");
    const kept = JSON.parse(await kubectl(["get", "secret", "c-adopt-operator-auth", "-o", "json"])) as {
      data: Record<string, string>;
      metadata: { ownerReferences?: unknown[] };
    };
    assert.equal(Buffer.from(kept.data["operator-password"]!, "base64").toString(), PASSWORD, "not overwritten");
    assert.equal(kept.metadata.ownerReferences, undefined, "not adopted");

    // Once it is gone, the operator writes its own, with a password of its own.
    await kubectl(["delete", "secret", "c-adopt-operator-auth"]);
    await kubectl(["annotate", "rqc", "c-adopt", "touched=1"]);
    await eventually(
      "c-adopt-0 created",
      async () => (await cp.kubectl(["-n", ns, "get", "pod", "c-adopt-0"])).code === 0,
    );
    const own = JSON.parse(await kubectl(["get", "secret", "c-adopt-operator-auth", "-o", "json"])) as {
      data: Record<string, string>;
    };
    const generated = Buffer.from(own.data["operator-password"]!, "base64").toString();
    assert.notEqual(generated, PASSWORD);
    assert.ok(!(await log()).includes(generated), "the operator's own password is not logged either");
  });

  it("leaves the password out of the log, the events, every status and the metrics", async () => {
    const [text, events] = [await log(), await kubectl(["get", "events", "-o", "json"])];
    const sources = {
      log: text,
      events,
      statuses: await kubectl(["get", "rqc", "-o", "jsonpath={.items[*].status}"]),
      metrics: await controller.metrics(),
    };
    assert.ok(text.length > 1000 && events.includes("AdoptionConflict"), "there is something to search");
    for (const [where, found] of Object.entries(sources))
      for (const piece of PIECES) assert.ok(!found.includes(piece), `${where} holds the password (${piece})`);
  });
});
