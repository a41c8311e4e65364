// A Helm post-renderer (`helm install --post-renderer`) for the release tests. The API server of
// the test control plane may only dial loopback and has no Service routing, so the chart's
// webhook configurations are pointed at the webhook process the test runs on 127.0.0.1:PORT
// instead of the in-cluster Service, and scoped to the test's namespace so that no other write
// depends on that process; the serving Certificate also names 127.0.0.1, which the API server
// then checks. Every other object passes through as the chart rendered it.
//
// Usage: node --import tsx helmLoopback.ts PORT NAMESPACE <manifests >manifests
import { readFileSync } from "node:fs";
import { stringify } from "yaml";
import { parseObjects, type K8sObject } from "../../../hack/kustomize.js";

interface WebhookEntry {
  clientConfig: { service?: { path: string }; url?: string; caBundle?: string };
  namespaceSelector?: unknown;
}

function toLoopback(o: K8sObject, port: number, namespace: string): K8sObject {
  if (o.kind.endsWith("WebhookConfiguration")) {
    for (const w of o.webhooks as WebhookEntry[]) {
      const { service, ...rest } = w.clientConfig;
      if (!service) throw new Error(`${o.kind} ${o.metadata.name}: a webhook without a Service to replace`);
      w.clientConfig = { ...rest, url: `https://127.0.0.1:${port}${service.path}` };
      w.namespaceSelector = { matchLabels: { "kubernetes.io/metadata.name": namespace } };
    }
  }
  if (o.kind === "Certificate" && (o.spec as { dnsNames?: string[] }).dnsNames?.some((n) => n.includes(".svc"))) {
    (o.spec as { ipAddresses?: string[] }).ipAddresses = ["127.0.0.1"];
  }
  return o;
}

const [port, namespace] = process.argv.slice(2);
if (!port || !namespace) throw new Error("usage: helmLoopback.ts PORT NAMESPACE (manifests on stdin)");
const objects = parseObjects(readFileSync(0, "utf8"), "helm's rendered manifests");
process.stdout.write(objects.map((o) => stringify(toLoopback(o, Number(port), namespace))).join("---\n"));
