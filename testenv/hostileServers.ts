// Servers that answer as a hostile tenant's would, on loopback, for the tests of the operator's
// bounds: an S3 whose listing never ends, answers of any size streamed without holding them, and
// a body that trickles. Each counts what it served, so a test can show the operator hung up.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export interface HostileServer {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  /** Requests answered so far (for the S3: listing pages). */
  readonly requests: number;
  /** Bytes written so far, over every answer. */
  readonly bytesSent: number;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, count: (bytes: number) => void) => void;

/** Serves `handler` on a free loopback port; close() cuts every open connection. */
export async function serveHostile(handler: Handler, host = "127.0.0.1", port = 0): Promise<HostileServer> {
  let requests = 0;
  let bytesSent = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    handler(req, res, (n) => (bytesSent += n));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const bound = (server.address() as { port: number }).port;
  return {
    endpoint: `http://${host}:${bound}`,
    get requests() {
      return requests;
    },
    get bytesSent() {
      return bytesSent;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Writes `total` bytes of one JSON string (`{"x":"aaaa...."}`), as fast as the reader takes them,
 * without ever holding more than a chunk: a 1 GiB answer costs the server nothing.
 */
export function streamHugeJson(res: ServerResponse, total: number, count: (bytes: number) => void): void {
  res.writeHead(200, { "Content-Type": "application/json", "Content-Length": String(total) });
  const chunk = Buffer.alloc(64 << 10, "a");
  const head = '{"x":"';
  res.write(head);
  let left = total - head.length - 2;
  count(head.length);
  const more = () => {
    while (left > 0 && !res.destroyed) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      count(piece.length);
      if (!res.write(piece)) return void res.once("drain", more);
    }
    if (!res.destroyed) res.end('"}');
  };
  more();
}

/** Sends `body` one byte per `intervalMs`, after the status line and headers. */
export function trickle(res: ServerResponse, contentType: string, count: (bytes: number) => void, intervalMs = 1000) {
  res.writeHead(200, { "Content-Type": contentType });
  res.flushHeaders();
  const timer = setInterval(() => {
    if (res.destroyed) return clearInterval(timer);
    res.write("\0");
    count(1);
  }, intervalMs);
  res.on("close", () => clearInterval(timer));
}

/**
 * An S3 endpoint whose ListObjectsV2 never ends: every page is truncated and names a next one,
 * with `keysPerPage` keys of `keyBytes` each. Anything else is answered 200 with no body.
 */
export function endlessListing(opts: { keysPerPage?: number; keyBytes?: number } = {}): Handler {
  const keysPerPage = opts.keysPerPage ?? 1000;
  const pad = "k".repeat(Math.max(1, (opts.keyBytes ?? 100) - 24));
  return (req, res, count) => {
    const url = new URL(req.url ?? "/", "http://s3");
    if (req.method !== "GET" || url.searchParams.get("list-type") !== "2") {
      res.writeHead(200, { "Content-Length": "0" }).end();
      return;
    }
    const page = Number(url.searchParams.get("continuation-token") ?? "0");
    const prefix = url.searchParams.get("prefix") ?? "";
    const contents = Array.from(
      { length: keysPerPage },
      (_, i) =>
        `<Contents><Key>${prefix}${pad}-${page}-${i}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"0"</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents>`,
    ).join("");
    const body =
      `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
      `<Name>bucket</Name><Prefix>${prefix}</Prefix><KeyCount>${keysPerPage}</KeyCount><MaxKeys>1000</MaxKeys>` +
      `<IsTruncated>true</IsTruncated><NextContinuationToken>${page + 1}</NextContinuationToken>${contents}</ListBucketResult>`;
    count(body.length);
    res.writeHead(200, { "Content-Type": "application/xml", "Content-Length": String(Buffer.byteLength(body)) });
    res.end(body);
  };
}
