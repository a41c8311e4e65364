// Whether a control-plane component answers 200 on a health path, asked with the admin client
// certificate (the components authorize /readyz and /healthz like any other request).
import { readFileSync } from "node:fs";
import { request } from "node:https";
import type { Pki } from "./pki.js";

/**
 * `verify: false` is for the scheduler and controller-manager, which serve a certificate they
 * signed themselves; kube-apiserver's is signed by the plane's CA and is verified.
 */
export function httpsOk(url: string, pki: Pki, opts: { verify: boolean } = { verify: true }): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        timeout: 1000,
        ...(opts.verify ? { ca: readFileSync(pki.caCert) } : { rejectUnauthorized: false }),
        cert: readFileSync(pki.adminCert),
        key: readFileSync(pki.adminKey),
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}
