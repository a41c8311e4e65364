// The bench's own API client, as the cluster admin: independent of the controller's KubeClient,
// so that changing the controller never changes the instrument that measures it. Keep-alive
// HTTPS on loopback through undici; watches get a connection each, so they never queue
// behind writes.
import { readFileSync } from "node:fs";
import { Client, Pool, type Dispatcher } from "undici";
import type { ControlPlane } from "../testenv/controlplane.js";

export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

export interface Meta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  deletionTimestamp?: string;
}

export class BenchApi {
  private readonly tls;
  private readonly pool: Pool;
  private readonly watches = new Set<Client>();

  constructor(
    private readonly cp: ControlPlane,
    connections: number,
  ) {
    const { caCert, adminCert, adminKey } = cp.pki;
    this.tls = { ca: readFileSync(caCert), cert: readFileSync(adminCert), key: readFileSync(adminKey) };
    this.pool = new Pool(cp.url, { connections, connect: this.tls });
  }

  /** A JSON request; throws with the method, path and the server's answer unless it is 2xx. */
  async request<T>(
    method: Dispatcher.HttpMethod,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<T> {
    const res = await this.pool
      .request({
        method,
        path,
        headers: { accept: "application/json", ...(body === undefined ? {} : { "content-type": contentType }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      .catch((err: Error) => {
        throw new Error(`${method} ${path}: ${err.message}`, { cause: err });
      });
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode > 299)
      throw new Error(`${method} ${path}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }

  /**
   * Watches a collection from now on; resolves once the server has answered (the watch is in
   * place), then calls `onEvent` for every event until close(). A watch the server ends is
   * resumed from the last resourceVersion seen. `metadataOnly` asks for the objects' metadata
   * alone, which costs the apiserver and the bench far less than whole objects.
   */
  async watch<T extends { metadata: Meta }>(
    path: string,
    onEvent: (e: WatchEvent<T>) => void,
    metadataOnly = false,
  ): Promise<void> {
    // No body timeout: a watch may rightly stay silent through the idle minute.
    const client = new Client(this.cp.url, { connect: this.tls, bodyTimeout: 0 });
    this.watches.add(client);
    let resourceVersion: string | undefined;
    const open = async () => {
      const query = new URLSearchParams({
        watch: "true",
        timeoutSeconds: "3600",
        ...(resourceVersion ? { resourceVersion } : {}),
      });
      const accept = metadataOnly ? "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1" : "application/json";
      const res = await client.request({ method: "GET", path: `${path}?${query}`, headers: { accept } });
      if (res.statusCode !== 200)
        throw new Error(`watch ${path}: HTTP ${res.statusCode}: ${(await res.body.text()).slice(0, 300)}`);
      return res.body;
    };
    const consume = async (body: Dispatcher.ResponseData["body"]) => {
      let buffered = "";
      body.setEncoding("utf8");
      for await (const chunk of body as AsyncIterable<string>) {
        buffered += chunk;
        for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
          const event = JSON.parse(buffered.slice(0, nl)) as WatchEvent<T>;
          buffered = buffered.slice(nl + 1);
          if (event.type === "ERROR") throw new Error(`watch ${path}: ${JSON.stringify(event.object)}`);
          resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
          onEvent(event);
        }
      }
    };
    const first = await open();
    void (async () => {
      for (let body = first; ; body = await open()) await consume(body);
    })().catch((err: Error) => {
      if (this.watches.has(client)) console.error(`bench: ${err.message}`);
    });
  }

  /** Counts a collection without fetching it: one item plus the server's remainingItemCount. */
  async count(path: string): Promise<number> {
    const list = await this.request<{ items: unknown[]; metadata: { remainingItemCount?: number } }>(
      "GET",
      `${path}?limit=1`,
    );
    return list.items.length + (list.metadata.remainingItemCount ?? 0);
  }

  async close(): Promise<void> {
    const watches = [...this.watches];
    this.watches.clear();
    await Promise.all([this.pool.destroy(), ...watches.map((c) => c.destroy())]);
  }
}

/** Runs tasks with at most `limit` in flight; the rest wait their turn in order. */
export class Limiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      return await task();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}
