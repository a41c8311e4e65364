// The user's pod template, read and checked again before anything is rendered from it. The
// webhook checks templates on admission, but it may be bypassed, down, or installed after the
// objects; and a ConfigMap is only checked while it carries the pod-template label. So the
// controller applies the same rules from shared/ itself, and refuses a template (with a
// condition, holding every Pod change) rather than render what admission would have refused.
// spec.podTemplate is judged with the rest of the spec (reconcile.ts), the ConfigMap's here.
import { formatFieldError, key as keyPath } from "../../shared/field-errors.js";
import { DEFAULT_POD_TEMPLATE_KEY, POD_TEMPLATE_LABEL } from "../../shared/names.js";
import { validatePodTemplate } from "../../shared/pod-template.js";
import { describeJsonSyntaxError } from "../runtime/jsonSyntax.js";
import type { Json, Writer } from "../runtime/writer.js";
import type { ClusterView } from "./render/cluster.js";

/** The template to render with (none: no template), or why none may be used. */
export type TemplateRead = { template?: Json; problem?: undefined } | { problem: string };

export async function readPodTemplate(writer: Pick<Writer, "readConfigMap">, c: ClusterView): Promise<TemplateRead> {
  // An inline template is part of the spec, which reconcile.ts has judged whole (validateCreate
  // checks spec.podTemplate with these rules) before anything is observed: checking it again here
  // could only repeat that answer.
  if (c.spec.podTemplate) return { template: c.spec.podTemplate };
  const ref = c.spec.podTemplateConfigMap;
  if (!ref) return {};
  const key = ref.key ?? DEFAULT_POD_TEMPLATE_KEY;
  const where = `ConfigMap ${c.namespace}/${ref.name} (spec.podTemplateConfigMap)`;
  const cm = await writer.readConfigMap(c.self, ref.name);
  if (cm === undefined) return { problem: `${where} does not exist; create it or remove spec.podTemplateConfigMap` };
  // Admission checks only labelled ConfigMaps, so an unlabelled one was never checked.
  if (cm.labels[POD_TEMPLATE_LABEL] === undefined) {
    return {
      problem: `${where} has no ${POD_TEMPLATE_LABEL} label, so admission never checked it; label it (kubectl label configmap ${ref.name} ${POD_TEMPLATE_LABEL}=true)`,
    };
  }
  const text = cm.data[key];
  if (text === undefined) return { problem: `${where} has no key ${key}; add it or set spec.podTemplateConfigMap.key` };
  let template: unknown;
  try {
    template = JSON.parse(text);
  } catch {
    return { problem: `${where} key ${key} is ${describeJsonSyntaxError(text)}; fix the template` };
  }
  const errors = validatePodTemplate(template, keyPath("data", key));
  if (errors.length === 0) return { template: template as Json };
  return { problem: `${where} key ${key} is refused: ${errors.map(formatFieldError).join("; ")}` };
}
