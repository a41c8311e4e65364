import { strict as assert } from "node:assert";
import type { CoreV1Event } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { makeEventRecorder } from "../../controller/runtime/events.js";
import { KubeClient } from "../../controller/runtime/kubeClient.js";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { eventually } from "../../testenv/eventually.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";

const SOURCE = {
  component: "rqlite-operator",
  instance: "test",
  involvedApiVersion: "rqlite.io/v1alpha1",
  involvedKind: "RqCluster",
};

describe("Event recorder", function () {
  this.timeout(30_000);
  let cp: ControlPlane;
  let client: KubeClient;
  let ns: string;
  const errors: unknown[] = [];

  const events = async (object: string) =>
    (
      await client.request<{ items: CoreV1Event[] }>({
        method: "GET",
        path: `/api/v1/namespaces/${ns}/events`,
        query: { fieldSelector: `involvedObject.name=${object}` },
      })
    ).items;

  before(async () => {
    cp = await sharedControlPlane();
    client = KubeClient.load(new Registry(), cp.kubeconfigPath);
    ns = await createTestNamespace(cp, "events");
  });

  it("sends what one reconcile recorded as one Event per type and reason, on flush", async () => {
    const recorder = makeEventRecorder(client, SOURCE, (err) => errors.push(err));
    const sink = recorder({ namespace: ns, name: "one", uid: "uid-one" });
    sink.normal("Created", "created Service one");
    sink.normal("Created", "created Pod one-0");
    sink.normal("Created", "created Pod one-0");
    sink.warning("WaitingForLeader", "no leader yet");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await events("one")).length, 0, "nothing is sent before the flush");
    sink.flush();
    await eventually("two Events", async () => (await events("one")).length === 2);
    const byReason = Object.fromEntries((await events("one")).map((e) => [e.reason ?? "", e] as const));
    assert.equal(byReason.Created?.message, "created Service one; created Pod one-0");
    assert.equal(byReason.Created?.type, "Normal");
    assert.equal(byReason.WaitingForLeader?.type, "Warning");
    assert.equal(byReason.Created?.involvedObject.uid, "uid-one");

    sink.warning("WaitingForLeader", "no leader yet");
    sink.flush();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await events("one")).length, 2, "the same Event again within the repeat window is dropped");
    assert.deepEqual(errors, []);
  });

  it("keeps a combined message within an Event's 1 KiB, saying how many did not fit", async () => {
    const sink = makeEventRecorder(client, SOURCE, (err) => errors.push(err))({
      namespace: ns,
      name: "many",
      uid: "uid-many",
    });
    for (let i = 0; i < 60; i++) sink.normal("Created", `created PersistentVolumeClaim many-data-${i}`);
    sink.flush();
    const event = await eventually("the Event", async () => (await events("many"))[0]);
    assert.ok(event.message!.length <= 1024, `${event.message!.length} characters`);
    assert.match(event.message!, /^created PersistentVolumeClaim many-data-0; .*; \(and \d+ more\)$/);
    const shown = event.message!.split("; ").length - 1;
    assert.equal(Number(/and (\d+) more/.exec(event.message!)![1]) + shown, 60);
  });
});
