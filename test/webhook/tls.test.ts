import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { readServingCert } from "../../webhook/tls.js";
import { httpsRequest, mintCerts, tempDir, WebhookProcess } from "../../testenv/webhookProcess.js";

const run = promisify(execFile);

/**
 * Replaces dir's serving pair with one that has an empty subject and only SANs, signed by the
 * CA mintCerts left there: what cert-manager issues for a Certificate without a commonName.
 */
async function mintWithoutSubject(dir: string): Promise<void> {
  const file = (name: string) => join(dir, name);
  await writeFile(
    file("san.ext"),
    "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
  );
  await run("openssl", [
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-subj",
    "/",
    "-keyout",
    file("tls.key"),
    "-out",
    file("tls.csr"),
  ]);
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    file("tls.csr"),
    "-CA",
    file("ca.crt"),
    "-CAkey",
    file("ca.key"),
    "-set_serial",
    "0x5eb1ec7",
    "-days",
    "1",
    "-extfile",
    file("san.ext"),
    "-out",
    file("tls.crt"),
  ]);
}

describe("serving certificate without a subject", () => {
  let dir: string;
  let ca: Buffer;

  before(async () => {
    dir = await tempDir("webhook-no-subject");
    ({ ca } = await mintCerts(dir));
    await mintWithoutSubject(dir);
  });

  it("is read, and named by its SANs", () => {
    const cert = readServingCert({ certFile: join(dir, "tls.crt"), keyFile: join(dir, "tls.key") });
    assert.equal(cert.subject, undefined);
    assert.equal(cert.subjectAltName, "DNS:localhost, IP Address:127.0.0.1");
  });

  it("serves HTTPS from a webhook that starts with it", async () => {
    const server = await WebhookProcess.start(dir);
    try {
      const loaded = await server.waitForLog((l) => l.msg === "serving certificate loaded");
      assert.equal(loaded.subjectAltName, "DNS:localhost, IP Address:127.0.0.1");
      const res = await httpsRequest(server.port, "/healthz", ca);
      assert.equal(res.status, 200);
      assert.equal(res.peerSerial, "05EB1EC7");
    } finally {
      await server.stop();
    }
  });
});
