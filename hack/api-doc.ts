// docs/api.md, the API reference, rendered from shared/'s schema: every field of RqCluster and
// RqBackup with its type, default, rules and description, as the CRDs and the validator see them.
// `npm run generate` writes it; test/unit/hack/generate.test.ts fails when the committed file
// drifts.
import type { JsonSchema } from "../shared/json-schema.js";
import { rqBackupSchema } from "../shared/backup-schema.js";
import { BACKUP_KIND, BACKUP_PLURAL, BACKUP_SHORT_NAME } from "../shared/backup-names.js";
import {
  rqScheduledBackupSchema,
  SCHEDULED_BACKUP_KIND,
  SCHEDULED_BACKUP_PLURAL,
  SCHEDULED_BACKUP_SHORT_NAME,
} from "../shared/scheduled-backup-schema.js";
import { API_VERSION, KIND, PLURAL, SHORT_NAME } from "../shared/names.js";
import { rqClusterSchema } from "../shared/schema.js";

interface Kind {
  kind: string;
  plural: string;
  shortName: string;
  schema: JsonSchema;
}

const KINDS: Kind[] = [
  { kind: KIND, plural: PLURAL, shortName: SHORT_NAME, schema: rqClusterSchema },
  { kind: BACKUP_KIND, plural: BACKUP_PLURAL, shortName: BACKUP_SHORT_NAME, schema: rqBackupSchema },
  {
    kind: SCHEDULED_BACKUP_KIND,
    plural: SCHEDULED_BACKUP_PLURAL,
    shortName: SCHEDULED_BACKUP_SHORT_NAME,
    schema: rqScheduledBackupSchema,
  },
];

/** A table cell: one line, pipes escaped. */
const cell = (text: string) => text.replace(/\s*\n\s*/g, " ").replace(/\|/g, "\\|");
const code = (v: unknown) => `\`${typeof v === "string" ? v : JSON.stringify(v)}\``;

function typeOf(s: JsonSchema): string {
  if (s["x-kubernetes-int-or-string"]) return "int or string";
  if (s.type === "array") return `list of ${s.items ? typeOf(s.items) : "any"}`;
  if (s.type === "object" && s.additionalProperties && !s.properties) return `map of ${typeOf(s.additionalProperties)}`;
  const base = s.type === "integer" ? "int" : s.type === "boolean" ? "bool" : (s.type ?? "any");
  return s.format ? `${base} (${s.format})` : base;
}

function rulesOf(s: JsonSchema, required: boolean): string {
  const rules: string[] = [];
  if (required) rules.push("required");
  if (s.enum) rules.push(`one of ${s.enum.map(code).join(", ")}`);
  if (s.minimum !== undefined) rules.push(`at least ${s.minimum}`);
  if (s.maximum !== undefined) rules.push(`at most ${s.maximum}`);
  if (s.maxLength !== undefined) rules.push(`at most ${s.maxLength} characters`);
  if (s.pattern) rules.push(`matches ${code(s.pattern)}`);
  if (s.nullable) rules.push("may be null");
  if (s["x-kubernetes-list-type"] === "map")
    rules.push(`keyed by ${(s["x-kubernetes-list-map-keys"] ?? []).join(", ")}`);
  for (const v of s["x-kubernetes-validations"] ?? []) rules.push(v.message ?? code(v.rule));
  return rules.join("; ");
}

/** One row per field, depth first; fields of list items are under `name[]`. */
function rows(s: JsonSchema, path: string, required: boolean, out: string[]): void {
  if (path) {
    const dflt = s.default === undefined ? "" : code(s.default);
    out.push(
      `| \`${path}\` | ${cell(typeOf(s))} | ${cell(dflt)} | ${cell(rulesOf(s, required))} | ${cell(s.description ?? "")} |`,
    );
  }
  // What Kubernetes defines (a Pod template fragment, resources) is not repeated here.
  if (s["x-kubernetes-preserve-unknown-fields"]) return;
  const object = s.type === "array" ? s.items : s;
  const prefix = s.type === "array" ? `${path}[]` : path;
  for (const [name, child] of Object.entries(object?.properties ?? {})) {
    rows(child, prefix ? `${prefix}.${name}` : name, object?.required?.includes(name) ?? false, out);
  }
}

function section(k: Kind): string {
  const props = k.schema.properties ?? {};
  const table = (part: "spec" | "status") => {
    const out = ["| field | type | default | rules | description |", "|---|---|---|---|---|"];
    rows(props[part] ?? {}, "", false, out);
    return out.join("\n");
  };
  return [
    `## ${k.kind}`,
    "",
    cell(k.schema.description ?? ""),
    "",
    `\`apiVersion: ${API_VERSION}\`, \`kind: ${k.kind}\`, plural \`${k.plural}\`, short name \`${k.shortName}\`, namespaced.`,
    "",
    "### spec",
    "",
    table("spec"),
    "",
    "### status",
    "",
    "Written by the controller only.",
    "",
    table("status"),
    "",
  ].join("\n");
}

export function renderApiDoc(notice: string): string {
  return [
    "# API reference",
    "",
    `<!-- ${notice} -->`,
    "",
    "Every field the operator's custom resources take, as their CustomResourceDefinitions",
    "(`crds/`) and the admission webhook check them. What the operator does with them is in the",
    "README.",
    "",
    ...KINDS.map(section),
  ].join("\n");
}
