// The values table of the chart's README and the project's README, from values.schema.json:
// one row per setting, with its type (or allowed values), its default and its description.
import type { Schema } from "./values.js";

/** Defaults longer than this are left to values.yaml rather than squeezed into a cell. */
const MAX_DEFAULT = 48;

function typeOf(s: Schema): string {
  if (Array.isArray(s.enum)) return (s.enum as unknown[]).map((v) => `\`${String(v)}\``).join(", ");
  const type = Array.isArray(s.type) ? s.type.join(" or ") : (s.type ?? "any");
  return type === "array" && s.items?.type ? `array of ${String(s.items.type)}` : type;
}

function defaultOf(value: unknown): string {
  const json = JSON.stringify(value);
  return json.length > MAX_DEFAULT ? "see `values.yaml`" : `\`${json}\``;
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

function rows(schema: Schema, prefix: string): string[] {
  return Object.entries(schema.properties ?? {}).flatMap(([key, sub]) => {
    const path = `${prefix}${key}`;
    if ("default" in sub)
      return [
        `| \`${path}\` | ${cell(typeOf(sub))} | ${cell(defaultOf(sub.default))} | ${cell(sub.description ?? "")} |`,
      ];
    return rows(sub, `${path}.`);
  });
}

/** A Markdown table of every setting that has a default. */
export function valuesTable(schema: Schema): string {
  return ["| value | type | default | description |", "|---|---|---|---|", ...rows(schema, "")].join("\n");
}
