// rqlite's HTTP API through the API server's portforward subresource, as `kubectl port-forward`
// does, for what the pod proxy cannot carry: kube-apiserver removes the Authorization header of a
// pods/proxy request once it has authenticated the caller, so rqlite's basic auth never arrives.
// A port-forward is a byte stream from the caller to the Pod's own loopback, opened by the node's
// kubelet, so the request reaches rqlite exactly as sent, headers and all.
//
// Each HTTP request gets its own WebSocket (one TCP connection in the Pod), which is what the
// portforward protocol carries best: no listener on this machine, nothing to clean up.
import { request } from "node:http";
import { Duplex, PassThrough, Writable } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import { PortForward, type KubeConfig } from "@kubernetes/client-node";

/** The API server or the kubelet could not open the stream (status: the upgrade's HTTP answer). */
export class PortForwardError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface ForwardTarget {
  kc: KubeConfig;
  namespace: string;
  pod: string;
  port: number;
}

/** One TCP connection to `port` inside the Pod, carried by one WebSocket. */
function forwardedSocket(t: ForwardTarget): Duplex {
  const toPod = new PassThrough();
  const fromPod = new PassThrough();
  const socket = Duplex.from({ readable: fromPod, writable: toPod });
  // The kubelet reports a failed dial inside the Pod (nothing listening, say) on the error
  // channel, then closes the WebSocket.
  let errorText = "";
  const errors = new Writable({
    write(chunk: Buffer, _enc, done) {
      errorText += chunk.toString("utf8");
      done();
    },
  });
  new PortForward(t.kc).portForward(t.namespace, t.pod, [t.port], fromPod, errors, toPod).then(
    (opened: unknown) => {
      // With no retries it is the WebSocket itself (ws's, whose types the client does not ship).
      const ws = opened as { on(event: "close", listener: () => void): void; close(): void } | null;
      if (!ws) return socket.destroy(new PortForwardError("the port-forward closed before it opened"));
      ws.on("close", () => {
        if (errorText.trim()) socket.destroy(new PortForwardError(errorText.trim()));
        else fromPod.end();
      });
      // A request that timed out (or was otherwise dropped) while the stream was opening.
      if (socket.destroyed) ws.close();
      else socket.on("close", () => ws.close());
    },
    (err: unknown) => {
      // The ws library reports a refused upgrade as "Unexpected server response: 403".
      const message = (err as { message?: string }).message ?? String(err);
      const status = Number(/Unexpected server response: (\d{3})/.exec(message)?.[1]) || undefined;
      socket.destroy(new PortForwardError(message, status));
    },
  );
  return socket;
}

export interface ForwardedRequest {
  method: "GET" | "POST";
  /** Path and query string. */
  path: string;
  body?: string;
  headers: Record<string, string>;
  /** rqlite serves HTTPS (tls.http). */
  https: boolean;
  timeoutMs: number;
}

/** An HTTP request to the Pod's port through a port-forward; resolves with rqlite's answer. */
export function forwardedRequest(t: ForwardTarget, r: ForwardedRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      method: r.method,
      path: r.path,
      headers: {
        ...r.headers,
        Host: `localhost:${t.port}`,
        ...(r.body === undefined ? {} : { "Content-Length": Buffer.byteLength(r.body) }),
      },
      createConnection: () => {
        const raw = forwardedSocket(t);
        // The stream ends on the Pod's own loopback, past the kubelet's authenticated tunnel, and
        // the node's certificate names its DNS names, not localhost: nothing to verify it against.
        return r.https ? tlsConnect({ socket: raw, rejectUnauthorized: false }) : raw;
      },
    });
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${r.timeoutMs / 1000} s`)), r.timeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
      });
    });
    req.end(r.body);
  });
}
