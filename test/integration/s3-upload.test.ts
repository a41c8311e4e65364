// The operator's streaming upload (controller/access/s3Upload.ts) against the real S3 server
// (versitygw): what lands is byte for byte what was streamed, at every part boundary; reading runs
// one part ahead of the uploads and no further; and every failure (the body's, S3's, a stop)
// leaves neither an object nor a multipart upload with stored parts.
import { strict as assert } from "node:assert";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, type S3Client } from "@aws-sdk/client-s3";
import { uploadStream } from "../../controller/access/s3Upload.js";
import { eventually } from "../../testenv/eventually.js";
import { startS3Server, type S3TestServer } from "../../testenv/s3.js";

const BUCKET = "uploads";
const PART = 5 << 20;
/** Odd-sized chunks, so parts end in the middle of one. */
const CHUNK = 65_537;

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * `bytes` as a pull-only stream of CHUNK-sized pieces; `pulled` counts what the reader took. With
 * `fail`, the stream breaks once `fail.after` bytes were read and `fail.when` has resolved.
 */
function source(bytes: Buffer, fail?: { after: number; when: Promise<void> }): { body: Readable; pulled(): number } {
  let offset = 0;
  const body = new Readable({
    read() {
      if (fail && offset >= fail.after) {
        void fail.when.then(() => this.destroy(new Error("the source broke")));
        return;
      }
      const end = Math.min(bytes.length, offset + CHUNK);
      this.push(end > offset ? bytes.subarray(offset, end) : null);
      offset = end;
    },
  });
  return { body, pulled: () => offset };
}

/**
 * Records each command the client sends; `hold` may delay or fail one before it goes, `answered`
 * hears of each one S3 answered.
 */
function recordCommands(
  client: S3Client,
  hold?: (name: string, input: Record<string, unknown>) => Promise<void>,
  answered?: (name: string) => void,
) {
  const sent: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName);
      await hold?.(name, args.input as Record<string, unknown>);
      sent.push(name);
      const out = await next(args);
      answered?.(name);
      return out;
    },
    { step: "initialize", name: "testRecordCommands" },
  );
  return sent;
}

describe("s3Upload: a stream to S3 in fixed memory, on the real S3 server", function () {
  this.timeout(120_000);
  let s3: S3TestServer;

  before(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
  });
  after(async () => {
    await s3?.close();
  });

  async function assertNothingLeft(client: S3Client, key: string) {
    await assert.rejects(client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })), /NotFound|404/);
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: key }));
    assert.deepEqual(uploads.Uploads ?? [], [], "no multipart upload (and so no stored part) is left");
  }

  const cases: [string, number, string[]][] = [
    ["an empty stream", 0, ["PutObjectCommand"]],
    ["less than a part", 1000, ["PutObjectCommand"]],
    ["exactly one part", PART, ["PutObjectCommand"]],
    ["a part and a byte", PART + 1, ["CreateMultipartUploadCommand", "UploadPartCommand", "UploadPartCommand"]],
    ["exactly three parts", 3 * PART, ["CreateMultipartUploadCommand", ...Array<string>(3).fill("UploadPartCommand")]],
  ];
  for (const [what, size, requests] of cases) {
    it(`stores ${what} (${size} bytes) byte for byte`, async () => {
      const client = s3.client();
      const sent = recordCommands(client);
      const bytes = randomBytes(size);
      const key = `boundary/${size}`;
      await uploadStream(client, source(bytes).body, {
        bucket: BUCKET,
        key,
        contentType: "application/octet-stream",
        partSize: PART,
        queueSize: 2,
      });
      const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      const stored = Buffer.from(await got.Body!.transformToByteArray());
      assert.equal(stored.length, size);
      assert.equal(sha(stored), sha(bytes));
      assert.equal(got.ContentType, "application/octet-stream");
      const expected = requests.length > 1 ? [...requests, "CompleteMultipartUploadCommand"] : requests;
      assert.deepEqual(
        sent.filter((n) => n !== "GetObjectCommand"),
        expected,
      );
      client.destroy();
    });
  }

  it("reads one part ahead while every slot uploads, and no further", async () => {
    const client = s3.client();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    recordCommands(client, (name) => (name === "UploadPartCommand" ? released : Promise.resolve()));
    const bytes = randomBytes(4 * PART);
    const src = source(bytes);
    const pending = uploadStream(client, src.body, { bucket: BUCKET, key: "ahead", partSize: PART, queueSize: 1 });
    // Part 1 is held in its slot; part 2 is read meanwhile.
    await eventually("the second part read while the first uploads", () => src.pulled() >= 2 * PART, 30_000);
    // Then nothing more is read until a slot frees: a few turns of the event loop change nothing.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    const bound = 2 * PART + 17 * CHUNK;
    assert.ok(src.pulled() <= bound, `read ${src.pulled()} bytes with one slot held; at most ${bound} expected`);
    release();
    await pending;
    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "ahead" }));
    assert.equal(sha(Buffer.from(await got.Body!.transformToByteArray())), sha(bytes));
    client.destroy();
  });

  it("aborts the multipart upload when the body fails, and rejects with the body's error", async () => {
    const client = s3.client();
    let stored!: () => void;
    const partStored = new Promise<void>((r) => (stored = r));
    const sent = recordCommands(client, undefined, (name) => name === "UploadPartCommand" && stored());
    const key = "fails/body";
    await assert.rejects(
      uploadStream(client, source(randomBytes(4 * PART), { after: 2 * PART + CHUNK, when: partStored }).body, {
        bucket: BUCKET,
        key,
        partSize: PART,
        queueSize: 2,
      }),
      /the source broke/,
    );
    assert.ok(sent.includes("UploadPartCommand"), "parts were stored before the failure");
    assert.equal(sent.at(-1), "AbortMultipartUploadCommand");
    await assertNothingLeft(client, key);
    client.destroy();
  });

  it("aborts the multipart upload when S3 refuses a part, and rejects with S3's error", async () => {
    const client = s3.client();
    const sent = recordCommands(client, (name, input) =>
      name === "UploadPartCommand" && input.PartNumber === 2
        ? Promise.reject(new Error("S3 refused part 2"))
        : Promise.resolve(),
    );
    const key = "fails/part";
    await assert.rejects(
      uploadStream(client, source(randomBytes(4 * PART)).body, { bucket: BUCKET, key, partSize: PART, queueSize: 2 }),
      /S3 refused part 2/,
    );
    assert.ok(!sent.includes("CompleteMultipartUploadCommand"));
    assert.equal(sent.at(-1), "AbortMultipartUploadCommand");
    await assertNothingLeft(client, key);
    client.destroy();
  });

  it("stops when its signal is aborted, leaving nothing", async () => {
    const client = s3.client();
    const stop = new AbortController();
    let holding!: () => void;
    const held = new Promise<void>((r) => (holding = r));
    recordCommands(client, (name, input) => {
      if (name === "UploadPartCommand" && input.PartNumber === 2) {
        holding();
        stop.abort(new Error("the operator stopped"));
      }
      return Promise.resolve();
    });
    const key = "fails/stopped";
    const failed = assert.rejects(
      uploadStream(client, source(randomBytes(4 * PART)).body, {
        bucket: BUCKET,
        key,
        partSize: PART,
        queueSize: 1,
        signal: stop.signal,
      }),
    );
    await held;
    await failed;
    await assertNothingLeft(client, key);
    client.destroy();
  });
});
