// A loopback TCP proxy that slows what a server sends to a set rate per connection, so a small
// S3 object downloads as slowly as a large one would over a slow link. Requests pass at full
// speed; SigV4 signs the Host header the client sends, which the proxy passes on unchanged.
import { connect, createServer, type Server, type Socket } from "node:net";

export class ThrottledProxy {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    /** Bytes per second from the server to each client. */
    public bytesPerSecond: number,
  ) {}

  static async start(target: { host: string; port: number }, bytesPerSecond: number): Promise<ThrottledProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const addr = server.address();
    const proxy = new ThrottledProxy(server, typeof addr === "object" && addr ? addr.port : 0, bytesPerSecond);
    server.on("connection", (client) => proxy.accept(client, target));
    return proxy;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    // Slices of at most a tenth of a second's worth, each sent when its time has come.
    let sent = 0;
    let sending = false;
    let ended = false;
    const started = Date.now();
    upstream.on("data", (chunk: Buffer) => {
      upstream.pause();
      sending = true;
      const slice = Math.max(1, Math.floor(this.bytesPerSecond / 10));
      const sendFrom = (offset: number) => {
        if (client.destroyed) return;
        if (offset >= chunk.length) {
          sending = false;
          // The server may have closed already: its end waits for what is still being sent.
          if (ended) client.end();
          else upstream.resume();
          return;
        }
        const part = chunk.subarray(offset, offset + slice);
        sent += part.length;
        client.write(part);
        const due = started + (sent / this.bytesPerSecond) * 1000;
        setTimeout(() => sendFrom(offset + part.length), Math.max(0, due - Date.now()));
      };
      sendFrom(0);
    });
    upstream.on("end", () => {
      ended = true;
      if (!sending) client.end();
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
