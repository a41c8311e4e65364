// The certificate the secure metrics server presents: tls.crt and tls.key from a folder (a
// cert-manager or other Secret mounted there), or, as controller-runtime does without one, a
// self-signed certificate made at start-up. Prometheus then verifies nothing about the server
// (insecureSkipVerify) but the token it sends still travels encrypted.
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { generate } from "selfsigned";

export interface ServingCert {
  cert: string;
  key: string;
  /** Where it came from, for the log. */
  source: string;
}

export async function servingCert(certDir: string | undefined): Promise<ServingCert> {
  if (certDir) {
    const [cert, key] = await Promise.all(
      ["tls.crt", "tls.key"].map((f) =>
        readFile(join(certDir, f), "utf8").catch((err: Error) => {
          throw new Error(`--metrics-cert-dir=${certDir}: cannot read ${f}: ${err.message}`);
        }),
      ),
    );
    return { cert: cert!, key: key!, source: certDir };
  }
  const name = hostname();
  const pems = await generate([{ name: "commonName", value: name }], {
    keyType: "ec",
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: name },
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private, source: "self-signed at start-up" };
}
