// The benchmark's yardstick: the least an express HTTPS admission endpoint can do — parse the
// AdmissionReview and answer `allowed: true` with its uid. Prints {"port": N} once listening.
//   tsx bench/webhook-bare.ts CERT_DIR
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import express from "express";

const certDir = process.argv[2];
if (!certDir) {
  process.stderr.write("usage: webhook-bare.ts CERT_DIR (with tls.crt and tls.key)\n");
  process.exit(2);
}

const app = express();
app.disable("x-powered-by");
app.set("etag", false);
app.use(express.json({ limit: "3mb" }));
app.use((req, res) => {
  const uid = (req.body as { request?: { uid?: unknown } } | undefined)?.request?.uid;
  res.json({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid, allowed: true } });
});

const server = createServer(
  { cert: readFileSync(join(certDir, "tls.crt")), key: readFileSync(join(certDir, "tls.key")) },
  app,
);
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.once("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
});
