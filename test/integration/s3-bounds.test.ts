// The operator's S3 listings (retention, restore `latest`) against hostile S3 endpoints on
// loopback: a listing that never ends, pages that never stop coming, slow pages, and an answer of
// 1 GiB. Each is refused whole, with an error that says what was exceeded, and the server shows
// the operator stopped reading.
import { strict as assert } from "node:assert";
import { describeS3Error, listObjects, newS3Client, S3BoundError, type S3Gate } from "../../controller/access/s3.js";
import { parseEndpointAllow, STRICT_S3_POLICY } from "../../shared/s3-endpoint.js";
import { endlessListing, serveHostile, type Handler, type HostileServer } from "../../testenv/hostileServers.js";

const conn = (endpoint: string) => ({ region: "us-east-1", endpoint, forcePathStyle: true });
// These servers are on loopback, which an administrator allows explicitly, as for a private S3.
const gate: S3Gate = { policy: { ...STRICT_S3_POLICY, allow: parseEndpointAllow("127.0.0.1/32") } };
const keys = { accessKeyId: "AKIATEST", secretAccessKey: "secret" };

describe("S3 listing bounds against hostile loopback servers", function () {
  this.timeout(60_000);
  const servers: HostileServer[] = [];
  const serve = async (h: Handler) => {
    const s = await serveHostile(h);
    servers.push(s);
    return s;
  };
  after(() => Promise.all(servers.map((s) => s.close())));

  const refusal = async (p: Promise<unknown>): Promise<S3BoundError> => {
    const err = await p.then(
      () => assert.fail("the listing was accepted"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof S3BoundError, `expected an S3BoundError, got ${String(err)}`);
    return err;
  };

  it("refuses a listing that never ends at the object cap (the default 20 000)", async () => {
    const s3 = await serve(endlessListing());
    const client = newS3Client(gate, conn(s3.endpoint), keys);
    try {
      const err = await refusal(listObjects(client, "bucket", "nightly/"));
      assert.match(
        err.message,
        /s3:\/\/bucket\/nightly\/ has more than 20000 objects; the operator acts on no part of it/,
      );
      assert.ok(s3.requests <= 21, `${s3.requests} pages were asked for`);
      assert.match(
        describeS3Error(err, "retention of s3://bucket/nightly/", undefined),
        /^retention of s3:\/\/bucket\/nightly\/: the listing/,
      );
    } finally {
      client.destroy();
    }
  });

  it("refuses a listing of tiny pages at the page cap, and a slow one at its deadline", async () => {
    const tiny = await serve(endlessListing({ keysPerPage: 1 }));
    const client = newS3Client(gate, conn(tiny.endpoint), keys);
    try {
      const err = await refusal(
        listObjects(client, "bucket", "p/", { maxObjects: 1000, maxPages: 20, listDeadlineMs: 30_000 }),
      );
      assert.match(err.message, /has more than 20 pages/);
      assert.equal(tiny.requests, 20);
    } finally {
      client.destroy();
    }
    const list = endlessListing({ keysPerPage: 1 });
    const slow = await serve((req, res, count) => setTimeout(() => list(req, res, count), 300));
    const slowClient = newS3Client(gate, conn(slow.endpoint), keys);
    try {
      const started = Date.now();
      const err = await refusal(
        listObjects(slowClient, "bucket", "p/", { maxObjects: 1000, maxPages: 1000, listDeadlineMs: 1000 }),
      );
      const took = Date.now() - started;
      assert.match(err.message, /took longer than 1 s/);
      assert.ok(took < 2000, `refused after ${took} ms`);
    } finally {
      slowClient.destroy();
    }
  });

  it("refuses an answer of 1 GiB at the answer cap without reading it", async () => {
    let sent = 0;
    const huge = await serve((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/xml" });
      const chunk = Buffer.alloc(64 << 10, " ");
      res.write('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>');
      const more = () => {
        while (!res.destroyed && sent < 1 << 30) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", more);
        }
        if (!res.destroyed) res.end("</Name></ListBucketResult>");
      };
      more();
    });
    const client = newS3Client(gate, conn(huge.endpoint), keys, 15_000, 1 << 20);
    try {
      const err = await listObjects(client, "bucket", "p/").then(
        () => assert.fail("accepted"),
        (e: unknown) => e as Error,
      );
      assert.match(
        describeS3Error(err, "restore source", undefined),
        /larger than 1 MiB, which the operator does not read/,
      );
      assert.ok(sent < 64 << 20, `the server wrote ${sent} bytes before the operator hung up`);
    } finally {
      client.destroy();
    }
  });
});
