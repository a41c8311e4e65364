// The serving certificate: where it is mounted, reading and checking a cert/key pair, and
// noticing when the files change so the server can swap contexts without a restart.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync, statSync, watch, type FSWatcher } from "node:fs";
import { dirname, join } from "node:path";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import type { Logger } from "./log.js";
import type { WebhookMetrics } from "./metrics.js";

/** controller-runtime's default, where a cert-manager Secret is usually mounted. */
export const DEFAULT_CERT_DIR = "/tmp/k8s-webhook-server/serving-certs";
/** Where OLM mounts the certificate it generates for an operator's webhooks. */
export const OLM_CERT_DIR = "/apiserver.local.config/certificates";

export interface CertPaths {
  certFile: string;
  keyFile: string;
}

/** The places searched, in order, when neither files nor a folder are configured. */
export const WELL_KNOWN_CERT_PATHS: readonly CertPaths[] = [
  { certFile: join(DEFAULT_CERT_DIR, "tls.crt"), keyFile: join(DEFAULT_CERT_DIR, "tls.key") },
  { certFile: join(OLM_CERT_DIR, "apiserver.crt"), keyFile: join(OLM_CERT_DIR, "apiserver.key") },
];

export function resolveCertPaths(
  opts: { certDir?: string; certFile?: string; keyFile?: string },
  exists: (path: string) => boolean = existsSync,
  wellKnown: readonly CertPaths[] = WELL_KNOWN_CERT_PATHS,
): CertPaths {
  if (opts.certFile && opts.keyFile) return { certFile: opts.certFile, keyFile: opts.keyFile };
  if (opts.certDir) return { certFile: join(opts.certDir, "tls.crt"), keyFile: join(opts.certDir, "tls.key") };
  const found = wellKnown.find((p) => exists(p.certFile) && exists(p.keyFile));
  if (found) return found;
  const looked = wellKnown.map((p) => `${p.certFile} + ${p.keyFile}`).join(", ");
  throw new Error(
    `no serving certificate found (looked for ${looked}); mount one there or pass --cert-dir or --tls-cert-file/--tls-key-file`,
  );
}

export interface ServingCert {
  cert: Buffer;
  key: Buffer;
  /**
   * The subject's distinguished name, absent when the certificate has none: cert-manager issues
   * such certificates when a Certificate sets no commonName and names the server only in SANs.
   */
  subject?: string;
  /** e.g. `DNS:webhook.ns.svc, IP Address:127.0.0.1`; absent when the certificate has none. */
  subjectAltName?: string;
  serialNumber: string;
  notAfter: string;
  fingerprint256: string;
}

/** Options for https.createServer and server.setSecureContext alike. */
export function secureContextOptions(c: ServingCert): SecureContextOptions {
  return { cert: c.cert, key: c.key, minVersion: "TLSv1.2" };
}

/**
 * Reads and checks a pair: the certificate parses, the key belongs to it, and Node accepts both
 * for a TLS context. Throws with the file names and the reason otherwise, e.g. while a rotation
 * has replaced one file but not yet the other.
 */
export function readServingCert(paths: CertPaths): ServingCert {
  const where = `${paths.certFile} + ${paths.keyFile}`;
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(paths.certFile);
    key = readFileSync(paths.keyFile);
  } catch (err) {
    throw new Error(`cannot read serving certificate ${where}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key)))
      throw new Error("the private key does not belong to the certificate");
    createSecureContext({ cert, key });
    return {
      cert,
      key,
      // An empty subject reads as undefined on Node 20 and as an empty string on newer releases.
      subject: x509.subject ? x509.subject.replace(/\n/g, ", ") : undefined,
      subjectAltName: x509.subjectAltName,
      serialNumber: x509.serialNumber,
      notAfter: new Date(x509.validTo).toISOString(),
      fingerprint256: x509.fingerprint256,
    };
  } catch (err) {
    throw new Error(`unusable serving certificate ${where}: ${(err as Error).message}`, { cause: err });
  }
}

/** Identity of the files' current contents; stat follows the symlinks of a Secret volume. */
function fileSignature(paths: CertPaths): string {
  return [paths.certFile, paths.keyFile]
    .map((f) => {
      try {
        const s = statSync(f);
        return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
      } catch {
        return "missing";
      }
    })
    .join("|");
}

export interface CertWatcherOptions {
  pollIntervalMs: number;
  logger: Logger;
  metrics: WebhookMetrics;
  /** Coalesces the burst of events a rotation makes (two files, a symlink swap). */
  debounceMs?: number;
}

/**
 * Keeps the serving certificate current. Kubernetes updates a Secret volume by writing a new
 * timestamped folder and renaming the `..data` symlink over the old one, so the folders holding
 * the files are watched (a watch on the file itself would follow the old inode), and the files
 * are stat'ed periodically as a backstop for missed events and replaced folders. A new pair that
 * does not load leaves the current one in service; it is retried when the files change again.
 */
export class CertWatcher {
  private current: ServingCert;
  private loadedSignature: string;
  private failedSignature?: string;
  private watchers: FSWatcher[] = [];
  private poll?: NodeJS.Timeout;
  private pending?: NodeJS.Timeout;
  private onChange: (cert: ServingCert) => void = () => {};

  /** Reads the pair now; throws when it is unusable, since a webhook without one cannot start. */
  constructor(
    readonly paths: CertPaths,
    private readonly opts: CertWatcherOptions,
  ) {
    this.loadedSignature = fileSignature(paths);
    this.current = this.read();
  }

  private read(): ServingCert {
    try {
      const cert = readServingCert(this.paths);
      this.opts.metrics.certificateRead(true);
      return cert;
    } catch (err) {
      this.opts.metrics.certificateRead(false);
      throw err;
    }
  }

  get certificate(): ServingCert {
    return this.current;
  }

  start(onChange: (cert: ServingCert) => void): void {
    this.onChange = onChange;
    for (const dir of new Set([dirname(this.paths.certFile), dirname(this.paths.keyFile)])) {
      try {
        const w = watch(dir, { persistent: false }, () => this.schedule());
        w.on("error", (err) => {
          this.opts.logger.warn(
            { dir, err: err.message },
            "certificate folder watch failed; relying on periodic checks",
          );
          w.close();
        });
        this.watchers.push(w);
      } catch (err) {
        this.opts.logger.warn(
          { dir, err: (err as Error).message },
          "cannot watch certificate folder; relying on periodic checks",
        );
      }
    }
    this.poll = setInterval(() => this.check(), this.opts.pollIntervalMs);
    this.poll.unref();
  }

  stop(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    clearInterval(this.poll);
    clearTimeout(this.pending);
  }

  private schedule(): void {
    this.pending ??= setTimeout(() => {
      this.pending = undefined;
      this.check();
    }, this.opts.debounceMs ?? 100);
    this.pending.unref();
  }

  /** Reloads when the files differ from what is loaded and from the last pair that failed. */
  check(): void {
    const signature = fileSignature(this.paths);
    if (signature === this.loadedSignature || signature === this.failedSignature) return;
    const { logger } = this.opts;
    try {
      const next = this.read();
      this.loadedSignature = signature;
      this.failedSignature = undefined;
      if (next.fingerprint256 === this.current.fingerprint256 && next.key.equals(this.current.key)) return;
      this.current = next;
      this.onChange(next);
      logger.info(
        {
          subject: next.subject,
          subjectAltName: next.subjectAltName,
          serialNumber: next.serialNumber,
          notAfter: next.notAfter,
        },
        "serving certificate reloaded",
      );
    } catch (err) {
      this.failedSignature = signature;
      logger.error(
        { err: (err as Error).message, serialNumber: this.current.serialNumber },
        "new serving certificate rejected; still serving the previous one",
      );
    }
  }
}
