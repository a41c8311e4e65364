import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { PassThrough, type Readable } from "node:stream";
import { request as httpsRequest } from "node:https";
import { classifyTransportError, excerpt, RqliteError, type RqliteErrorKind } from "./errors.js";

/** How to reach one rqlite node: fixed for the life of a client. */
export interface Endpoint {
  baseUrl: URL;
  /** The node's Raft id, for error messages. */
  nodeId?: string;
  /** Basic-auth credentials (rqlite's -auth file). */
  auth?: { username: string; password: string };
  /** PEM CA bundle that signs the node's HTTPS certificate; system CAs when absent. */
  ca?: string | Buffer;
  /** Name the certificate must carry when it differs from the URL's host (dialling a pod by IP). */
  serverName?: string;
}

export interface HttpCall {
  method: "GET" | "POST" | "DELETE";
  path: string;
  /** `true` sends a bare flag (`?sync`), which is how rqlite reads most options. */
  query?: Record<string, string | true>;
  json?: unknown;
  /** A request body streamed as application/octet-stream (a database file to load), instead of json. */
  upload?: Readable;
  timeoutMs: number;
  /** The rqlite permission the call needs, named in an unauthorized error. */
  perm: string;
  /**
   * The largest answer read, in bytes: past it the connection is cut and the call fails. A node
   * runs whatever image its spec names, so its answers are a tenant's input, read into memory.
   */
  maxBytes: number;
}

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * The default cap on an rqlite answer the operator reads whole: far above what /status, /nodes or
 * a query of the operator's own answer (kilobytes), far below what would strain its memory.
 */
export const DEFAULT_MAX_ANSWER_BYTES = 4 << 20;

const mib = (n: number) => (n >= 1 << 20 ? `${+(n / (1 << 20)).toFixed(2)} MiB` : `${n} bytes`);

/** The error for an answer past the cap, naming the cap. */
function tooLarge(ep: Endpoint, call: HttpCall, status: number, announced?: number): RqliteError {
  return failure(
    ep,
    callName(call),
    "bad-response",
    `the answer ${announced === undefined ? "exceeds" : `announces ${announced} bytes, more than`} the ${mib(call.maxBytes)} the operator reads from an rqlite node; it was cut off (is this rqlited?)`,
    { status },
  );
}

/**
 * Collects a response body up to the call's cap. A Content-Length past it fails at once, and so
 * does the first chunk that crosses it, whatever the server claimed. `done` runs once.
 */
function collect(
  ep: Endpoint,
  call: HttpCall,
  res: IncomingMessage,
  done: (err: RqliteError | undefined, body: Buffer) => void,
): void {
  const status = res.statusCode ?? 0;
  const announced = Number(res.headers["content-length"]);
  if (Number.isFinite(announced) && announced > call.maxBytes) {
    res.resume();
    done(tooLarge(ep, call, status, announced), Buffer.alloc(0));
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  res.on("data", (c: Buffer) => {
    if (over) return;
    size += c.length;
    if (size > call.maxBytes) {
      over = true;
      chunks.length = 0;
      done(tooLarge(ep, call, status), Buffer.alloc(0));
      return;
    }
    chunks.push(c);
  });
  res.on("end", () => {
    if (!over) done(undefined, Buffer.concat(chunks));
  });
}

/** The call's name in errors: method and path, without the query. */
export const callName = (call: Pick<HttpCall, "method" | "path">) => `${call.method} ${call.path}`;

export function failure(
  ep: Endpoint,
  call: string,
  kind: RqliteErrorKind,
  detail: string,
  extra: { status?: number; body?: string; cause?: unknown } = {},
): RqliteError {
  return new RqliteError({
    node: ep.baseUrl.origin,
    ...(ep.nodeId ? { nodeId: ep.nodeId } : {}),
    call,
    kind,
    detail,
    ...extra,
  });
}

/** The call's URL on the node, its query appended. */
function callUrl(ep: Endpoint, call: HttpCall): URL {
  const url = new URL(call.path, ep.baseUrl);
  for (const [k, v] of Object.entries(call.query ?? {})) url.searchParams.append(k, v === true ? "" : v);
  return url;
}

/** The headers every call carries: Basic auth when the endpoint has credentials. */
function authHeaders(ep: Endpoint): Record<string, string> {
  const headers: Record<string, string> = {};
  if (ep.auth)
    headers.Authorization = `Basic ${Buffer.from(`${ep.auth.username}:${ep.auth.password}`).toString("base64")}`;
  return headers;
}

/**
 * Opens the request on its own connection (`agent: false`), with the endpoint's CA and server
 * name for HTTPS. Node validates options synchronously (e.g. a CA bundle that is not PEM): that
 * comes back as an invalid-argument error instead of a throw, for the caller to settle with.
 */
function openRequest(
  ep: Endpoint,
  name: string,
  url: URL,
  method: HttpCall["method"],
  headers: Record<string, string>,
): ClientRequest | RqliteError {
  const tls =
    url.protocol === "https:"
      ? { ...(ep.ca ? { ca: ep.ca } : {}), ...(ep.serverName ? { servername: ep.serverName } : {}) }
      : {};
  try {
    return (url.protocol === "https:" ? httpsRequest : httpRequest)(url, { method, headers, agent: false, ...tls });
  } catch (err) {
    return failure(
      ep,
      name,
      "invalid-argument",
      `cannot send the request: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/**
 * Sends one request and reads the whole answer. It settles exactly once, by the deadline at the
 * latest: the timer covers connecting, the headers and the body. A 401/403 is rejected here, as
 * every call treats it the same; other statuses are for the caller to judge.
 *
 * Each call opens its own connection (`agent: false`): no pooled socket outlives the client,
 * and a kept-alive socket can never reach a new process that took over a replaced pod's address.
 */
export function send(ep: Endpoint, call: HttpCall): Promise<HttpReply> {
  const name = callName(call);
  const url = callUrl(ep, call);
  const body = call.json === undefined ? undefined : Buffer.from(JSON.stringify(call.json));
  const headers = authHeaders(ep);
  // rqlite's POST /leader reads a target id only when Content-Type is exactly application/json.
  if (body) Object.assign(headers, { "Content-Type": "application/json", "Content-Length": String(body.length) });
  if (call.upload) Object.assign(headers, { "Content-Type": "application/octet-stream" });

  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err: RqliteError | undefined, reply?: HttpReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        req?.destroy();
        reject(err);
      } else resolve(reply!);
    };
    const transportFailure = (err: unknown) => {
      const { kind, detail } = classifyTransportError(err);
      settle(failure(ep, name, kind, detail, { cause: err }));
    };

    const timer = setTimeout(
      () => settle(failure(ep, name, "timeout", `timed out after ${call.timeoutMs} ms`)),
      call.timeoutMs,
    );
    // Declared before it is opened: settle() destroys it, and may run first.
    let req: ClientRequest | undefined = undefined;
    const opened = openRequest(ep, name, url, call.method, headers);
    if (opened instanceof RqliteError) {
      settle(opened);
      return;
    }
    req = opened;

    req.on("error", transportFailure);
    req.on("response", (res) => {
      res.on("error", transportFailure);
      res.on("close", () => {
        if (!res.complete)
          settle(failure(ep, name, "network", "the connection closed before the whole answer arrived"));
      });
      collect(ep, call, res, (tooBig, body) => {
        if (tooBig) return settle(tooBig);
        const status = res.statusCode ?? 0;
        const reply = { status, headers: res.headers, body };
        if (status === 401 || status === 403) {
          const who = ep.auth ? `user "${ep.auth.username}"` : "no credentials";
          settle(
            failure(
              ep,
              name,
              "unauthorized",
              `HTTP ${status} unauthorized: rqlite refused ${who}; the call needs the "${call.perm}" permission`,
              { status, body: excerpt(reply.body.toString("utf8")) },
            ),
          );
        } else settle(undefined, reply);
      });
    });
    if (call.upload) {
      call.upload.on("error", (err: Error) =>
        settle(
          failure(ep, name, "invalid-argument", `reading the body to send failed: ${err.message}`, { cause: err }),
        ),
      );
      call.upload.pipe(req);
    } else req.end(body);
  });
}

export interface StreamReply {
  status: number;
  headers: IncomingHttpHeaders;
  /**
   * The body as it arrives. It fails (an RqliteError) when the connection closes before the whole
   * body came or when no byte arrives for `idleTimeoutMs`, so a consumer never mistakes a cut-off
   * answer for a complete one.
   */
  body: Readable;
}

/**
 * Sends one request and hands over the body as a stream, for answers too large to hold in memory
 * (a backup). `call.timeoutMs` limits connecting and the headers; after that only silence fails
 * it. A status other than 200 is read whole (it is rqlite's reason) and rejected.
 */
export function openStream(ep: Endpoint, call: HttpCall, idleTimeoutMs: number): Promise<StreamReply> {
  const name = callName(call);
  const url = callUrl(ep, call);
  const headers = authHeaders(ep);
  return new Promise((resolve, reject) => {
    const opened = openRequest(ep, name, url, call.method, headers);
    if (opened instanceof RqliteError) {
      reject(opened);
      return;
    }
    const req: ClientRequest = opened;
    let answered = false;
    const timer = setTimeout(() => {
      req.destroy();
      reject(failure(ep, name, "timeout", `no answer within ${call.timeoutMs} ms`));
    }, call.timeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      if (!answered) {
        const { kind, detail } = classifyTransportError(err);
        reject(failure(ep, name, kind, detail, { cause: err }));
      }
    });
    req.on("response", (res) => {
      answered = true;
      clearTimeout(timer);
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        res.on("error", () => {});
        collect(ep, call, res, (tooBig, body) => {
          if (tooBig) {
            req.destroy();
            return reject(tooBig);
          }
          const reply = { status, headers: res.headers, body };
          if (status === 401 || status === 403) {
            const who = ep.auth ? `user "${ep.auth.username}"` : "no credentials";
            reject(
              failure(
                ep,
                name,
                "unauthorized",
                `HTTP ${status} unauthorized: rqlite refused ${who}; the call needs the "${call.perm}" permission`,
                {
                  status,
                  body: excerpt(reply.body.toString("utf8")),
                },
              ),
            );
          } else reject(statusFailure(ep, call, reply));
        });
        return;
      }
      const body = new PassThrough();
      const cut = (detail: string, kind: RqliteErrorKind = "network", cause?: unknown) => {
        if (!body.destroyed) body.destroy(failure(ep, name, kind, detail, cause === undefined ? {} : { cause }));
        req.destroy();
      };
      // Silence on the socket for this long ends the transfer: a leader that froze mid-answer.
      req.setTimeout(idleTimeoutMs, () =>
        cut(`no data for ${idleTimeoutMs} ms in the middle of the answer`, "timeout"),
      );
      res.on("error", (err) => cut(`the answer broke off: ${err.message}`, "network", err));
      res.on("close", () => {
        if (!res.complete) cut("the connection closed before the whole answer arrived");
      });
      // A consumer that gives up (destroys the stream) closes the connection too.
      body.on("close", () => {
        if (!res.complete) req.destroy();
      });
      res.pipe(body);
      resolve({ status, headers: res.headers, body });
    });
    req.end();
  });
}

/** A rejection for a status the call does not accept, with the body rqlite sent as the reason. */
export function statusFailure(ep: Endpoint, call: HttpCall, reply: HttpReply): RqliteError {
  const text = excerpt(reply.body.toString("utf8"));
  const kind = /leader not found/i.test(text) ? "no-leader" : "http";
  return failure(ep, callName(call), kind, `HTTP ${reply.status}${text ? `: ${text}` : ""}`, {
    status: reply.status,
    body: text,
  });
}

/** Parses a JSON body, or rejects with the start of what came instead. */
export function parseJson(ep: Endpoint, call: HttpCall, reply: HttpReply): unknown {
  const text = reply.body.toString("utf8");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw failure(ep, callName(call), "bad-response", `the answer is not JSON: "${excerpt(text, 120)}"`, {
      status: reply.status,
      body: excerpt(text),
      cause: err,
    });
  }
}
