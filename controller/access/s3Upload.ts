// A byte stream of unknown length to one S3 object, by multipart upload, in fixed memory. Written
// here rather than taken from @aws-sdk/lib-storage's Upload, which reads the next part only when
// an upload slot is free (the source stalls while every slot uploads) and concatenates each part
// into a fresh buffer (a 1 GiB backup allocated 1 GiB of parts for the collector to catch up with).
import {
  AbortMultipartUploadCommand,
  ChecksumAlgorithm,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { Readable } from "node:stream";

export interface StreamUpload {
  bucket: string;
  key: string;
  contentType?: string;
  contentEncoding?: string;
  /** Bytes per part (S3: at least 5 MiB but for the last, at most 10 000 parts). */
  partSize: number;
  /** Parts uploading at once; one more is read meanwhile. */
  queueSize: number;
  /** Stops the upload; it rejects, and what was uploaded is aborted. */
  signal?: AbortSignal;
}

/**
 * Uploads everything `body` yields to `bucket/key`. A body shorter than one part goes in one
 * PutObject. Memory: queueSize + 1 part buffers, allocated once and reused. Resolves once S3 has
 * completed the object; on any failure (the body's, S3's, or `signal`) rejects, after aborting
 * the multipart upload, so no object and no stored parts are left under the key.
 */
export async function uploadStream(client: S3Client, body: Readable, o: StreamUpload): Promise<void> {
  const stop = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal;
  const onAbort = () => body.destroy(signal.reason instanceof Error ? signal.reason : new Error("upload aborted"));
  signal.addEventListener("abort", onAbort, { once: true });
  const object = {
    Bucket: o.bucket,
    Key: o.key,
    ...(o.contentType ? { ContentType: o.contentType } : {}),
    ...(o.contentEncoding ? { ContentEncoding: o.contentEncoding } : {}),
  };
  // As lib-storage does: with the SDK's default integrity checks each part carries a CRC32, which
  // S3 wants announced when the upload is created and repeated when it is completed.
  const checksummed = (await client.config.requestChecksumCalculation()) === "WHEN_SUPPORTED";
  const free: Buffer[] = [];
  const inFlight = new Set<Promise<void>>();
  const parts: CompletedPart[] = [];
  let uploadId: Promise<string> | undefined;
  let failure: { err: unknown } | undefined;

  const createUpload = async () => {
    const created = await client.send(
      new CreateMultipartUploadCommand({
        ...object,
        ...(checksummed ? { ChecksumAlgorithm: ChecksumAlgorithm.CRC32 } : {}),
      }),
      { abortSignal: signal },
    );
    if (!created.UploadId) throw new Error(`S3 started no multipart upload for s3://${o.bucket}/${o.key}`);
    return created.UploadId;
  };
  const send = async (part: Buffer, length: number, PartNumber: number) => {
    const UploadId = await (uploadId ??= createUpload());
    const res = await client.send(
      new UploadPartCommand({ Bucket: o.bucket, Key: o.key, UploadId, PartNumber, Body: part.subarray(0, length) }),
      { abortSignal: signal },
    );
    if (!res.ETag) throw new Error(`S3 gave no ETag for part ${PartNumber} of s3://${o.bucket}/${o.key}`);
    parts.push({ PartNumber, ETag: res.ETag, ...(res.ChecksumCRC32 ? { ChecksumCRC32: res.ChecksumCRC32 } : {}) });
    // Only now: the SDK may send a part again until it has an answer.
    free.push(part);
  };
  const start = (part: Buffer, length: number, partNumber: number) => {
    const p: Promise<void> = send(part, length, partNumber)
      .catch((err: unknown) => {
        failure ??= { err };
        stop.abort();
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  const check = () => {
    if (failure) throw failure.err;
  };

  let current: Buffer = Buffer.allocUnsafe(o.partSize);
  let filled = 0;
  let partNumber = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      for (let offset = 0; offset < chunk.length;) {
        // A full part goes only once more bytes come, so the last part is never empty.
        if (filled === o.partSize) {
          while (inFlight.size >= o.queueSize) await Promise.race(inFlight);
          check();
          start(current, filled, ++partNumber);
          current = free.pop() ?? Buffer.allocUnsafe(o.partSize);
          filled = 0;
        }
        const copied = chunk.copy(current, filled, offset);
        filled += copied;
        offset += copied;
      }
    }
    check();
    if (partNumber === 0) {
      await client.send(new PutObjectCommand({ ...object, Body: current.subarray(0, filled) }), {
        abortSignal: signal,
      });
      return;
    }
    start(current, filled, ++partNumber);
    await Promise.all(inFlight);
    check();
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: o.bucket,
        Key: o.key,
        UploadId: await uploadId!,
        MultipartUpload: { Parts: parts },
      }),
      { abortSignal: signal },
    );
  } catch (err) {
    // What failed first: a part's error stops the body, whose error then says only that.
    const cause = failure ? failure.err : err;
    stop.abort();
    await Promise.all(inFlight);
    const id = await uploadId?.catch(() => undefined);
    // Without a signal: the upload's own one is aborted by now.
    if (id)
      await client
        .send(new AbortMultipartUploadCommand({ Bucket: o.bucket, Key: o.key, UploadId: id }))
        .catch(() => {});
    throw o.signal?.aborted ? err : cause;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
