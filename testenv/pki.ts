import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

async function openssl(cwd: string, args: string[]): Promise<void> {
  try {
    await run("openssl", args, { cwd });
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    if (e.code === "ENOENT")
      throw new Error("openssl is not on PATH; install it (apt-get install openssl)", { cause: err });
    throw new Error(
      `openssl ${args[0]} failed in ${cwd}: ${
        String(e.stderr ?? err)
          .trim()
          .split("\n")[0]
      }`,
      { cause: err },
    );
  }
}

export interface Pki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  saPub: string;
  saKey: string;
}

/** Issues a leaf certificate signed by the CA in dir (ca.crt/ca.key). */
export async function issueCert(
  dir: string,
  name: string,
  subject: string,
  ext: string,
): Promise<{ cert: string; key: string }> {
  const extFile = `${name}.ext`;
  await writeFile(join(dir, extFile), ext);
  await openssl(dir, [
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    subject,
  ]);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-sha256",
    "-extfile",
    extFile,
    "-out",
    `${name}.crt`,
  ]);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** A CA in dir (ca.crt, ca.key) for issueCert; short-lived (2 days), for test runs only. */
export async function generateCa(dir: string, subject = "/CN=rqlite-operator-test-ca"): Promise<string> {
  await openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    subject,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return join(dir, "ca.crt");
}

/**
 * Everything kube-apiserver needs, as envtest generates it: one CA, a serving cert for
 * 127.0.0.1/localhost (and `extraServingIPs`, where real nodes and Pods reach it), an admin client cert in system:masters, and a service-account key pair.
 * Short-lived (2 days): these never leave a test run.
 */
export async function generatePki(dir: string, extraServingIPs: string[] = []): Promise<Pki> {
  await generateCa(dir);
  const ips = ["127.0.0.1", ...extraServingIPs].map((ip) => `IP:${ip}`).join(",");
  const serving = await issueCert(
    dir,
    "apiserver",
    "/CN=kube-apiserver",
    `subjectAltName=${ips},DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n`,
  );
  const admin = await issueCert(dir, "admin", "/O=system:masters/CN=admin", "extendedKeyUsage=clientAuth\n");
  await openssl(dir, ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key"]);
  await openssl(dir, ["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
  return {
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    servingCert: serving.cert,
    servingKey: serving.key,
    adminCert: admin.cert,
    adminKey: admin.key,
    saPub: join(dir, "sa.pub"),
    saKey: join(dir, "sa.key"),
  };
}
