import { readFile, writeFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { parse, stringify } from "yaml";

/**
 * A loopback TCP proxy in front of kube-apiserver, to make the network misbehave on purpose: TLS
 * passes through untouched (the serving cert is valid for 127.0.0.1 on any port).
 * - freeze(): open connections stay open but carry nothing more, like a watch that hangs silently.
 * - partition(true): also new connections hang after the TCP handshake, so every request stalls.
 * - cut(): resets every open connection, as a dropped network does.
 */
export class TcpProxy {
  private readonly pairs = new Set<[Socket, Socket]>();
  private partitioned = false;
  /** Connections accepted so far: how many a client opened. */
  accepted = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetUrl: string): Promise<TcpProxy> {
    const target = new URL(targetUrl);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const addr = server.address();
    const proxy = new TcpProxy(server, typeof addr === "object" && addr ? addr.port : 0);
    // Nobody knows the port before this returns, so no connection can come before the handler.
    server.on("connection", (client: Socket) => proxy.accept(client, target.hostname, Number(target.port)));
    return proxy;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Writes a copy of a kubeconfig that talks to the server through this proxy. */
  async kubeconfig(path: string): Promise<string> {
    const config = parse(await readFile(path, "utf8")) as { clusters: Array<{ cluster: { server: string } }> };
    for (const c of config.clusters) c.cluster.server = this.url;
    const out = path.replace(/\.kubeconfig$/, "") + `-via-${this.port}.kubeconfig`;
    await writeFile(out, stringify(config));
    return out;
  }

  freeze(): void {
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  partition(on: boolean): void {
    this.partitioned = on;
    if (on) this.freeze();
  }

  cut(): void {
    for (const [client, upstream] of this.pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, host: string, port: number): void {
    this.accepted++;
    client.on("error", () => {});
    // Partitioned: accepted but never forwarded, so the caller's request hangs.
    const upstream = this.partitioned ? client : connect(port, host);
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    // Closing one side closes the other even when frozen, so a server restart still ends a watch.
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on("close", end);
    if (upstream === client) {
      client.pause();
      return;
    }
    upstream.on("error", end);
    upstream.on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
