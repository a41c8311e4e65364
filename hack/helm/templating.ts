// Turns plain Kubernetes objects into Helm template text. The generator edits an object in place,
// putting a placeholder token where Helm is to decide (a value, or a whole key that appears only
// under a condition), then `toTemplate` serialises it with the same YAML writer as the bundle and
// swaps every token for its template text. Everything else is kept as written in deploy/, with
// `{{`/`}}` (PromQL label templates) escaped so Helm prints them verbatim, and the operator's
// namespace replaced by the release's.
import { stringify } from "yaml";

/** The namespace deploy/base installs into; in the chart it is the release's namespace. */
export const BASE_NAMESPACE = "rqlite-operator-system";

const SCALAR = /__helm_scalar_(\d+)__/g;
/** A token line, possibly the first key of a list item (`- __helm_line_N__: null`). */
const LINE = /^( *)(- )?__helm_line_(\d+)__: null$/gm;

/** Text of Helm template lines for a key found at `indent` spaces. */
export type LineTemplate = (indent: number) => string;

export class Templater {
  private readonly scalars: string[] = [];
  private readonly lines: LineTemplate[] = [];

  /** A scalar rendered by the template expression `expr`, e.g. `.Values.controller.replicas`. */
  value(expr: string): string {
    return this.text(`{{ ${expr} }}`);
  }

  /** A scalar whose whole text is `template` (which may mix literal text and actions). */
  text(template: string): string {
    this.scalars.push(template);
    return `__helm_scalar_${this.scalars.length - 1}__`;
  }

  /**
   * A key to put into a mapping (with the value null) whose line becomes `render(indent)`. The
   * order of keys is kept, so `insertKey`/`replaceKey` decide where the lines land.
   */
  line(render: LineTemplate): string {
    this.lines.push(render);
    return `__helm_line_${this.lines.length - 1}__`;
  }

  /** `key: <toYaml of valuesPath>` when that value is non-empty, nothing otherwise. */
  withValue(key: string, valuesPath: string): string {
    return this.line((n) =>
      [
        `${pad(n)}{{- with ${valuesPath} }}`,
        `${pad(n)}${key}:`,
        `${pad(n + 2)}{{- toYaml . | nindent ${n + 2} }}`,
        `${pad(n)}{{- end }}`,
      ].join("\n"),
    );
  }

  /**
   * `key: value` (value may hold tokens) when the template condition `cond` holds, else
   * `key: otherwise` when given, else nothing.
   */
  when(cond: string, key: string, value: unknown, ...otherwise: [unknown?]): string {
    return this.line((n) =>
      [
        `${pad(n)}{{- if ${cond} }}`,
        indentText(this.toTemplate({ [key]: value }), n),
        ...(otherwise.length ? [`${pad(n)}{{- else }}`, indentText(this.toTemplate({ [key]: otherwise[0] }), n)] : []),
        `${pad(n)}{{- end }}`,
      ].join("\n"),
    );
  }

  /**
   * `key:` with the list `items` (which may hold tokens), then the items `extra` renders (template
   * lines, each starting `- `, at the items' indentation), then those of the list at `valuesPath`.
   */
  listWithExtra(key: string, items: unknown[], valuesPath: string, extra: (n: number) => string[] = () => []): string {
    return this.line((n) =>
      [
        indentText(this.toTemplate({ [key]: items }), n),
        ...extra(n + 2),
        `${pad(n + 2)}{{- with ${valuesPath} }}`,
        `${pad(n + 2)}{{- toYaml . | nindent ${n + 2} }}`,
        `${pad(n + 2)}{{- end }}`,
      ].join("\n"),
    );
  }

  /** The entries of the map at `valuesPath`, as more keys of the map this token is put into. */
  entries(valuesPath: string): string {
    return this.line((n) => `${pad(n)}{{- with ${valuesPath} }}{{- toYaml . | nindent ${n} }}{{- end }}`);
  }

  /** Lines of an `include` (a named template producing YAML) at this key's indentation. */
  include(name: string): string {
    return this.line((n) => `${pad(n)}{{- include ${JSON.stringify(name)} . | nindent ${n} }}`);
  }

  /** The template text for `value`, with every token of this Templater resolved. */
  toTemplate(value: unknown): string {
    const yaml = withFullname(
      escapeActions(stringify(value, { lineWidth: 0 })).replaceAll(BASE_NAMESPACE, "{{ .Release.Namespace }}"),
    );
    return yaml
      .replace(LINE, (_m, indent: string, dash: string | undefined, i: string) => {
        if (!dash) return this.lines[Number(i)]!(indent.length);
        // The item's keys sit two columns right of its dash; the first line takes the dash.
        const text = this.lines[Number(i)]!(indent.length + 2);
        return `${indent}- ${text.slice(indent.length + 2)}`;
      })
      .replace(SCALAR, (_m, i: string) => this.scalars[Number(i)]!)
      .trimEnd();
  }
}

/**
 * Every name deploy/ derives from `rqlite-operator-` (objects, ClusterRoles, webhook
 * configurations, the Service in the certificate's DNS names, the Secret cert-manager writes)
 * takes the release's full name instead, so two releases never share a cluster-wide name. Label
 * values and the image are `rqlite-operator` alone, or follow a `/` or `.`, and stay.
 */
export function withFullname(text: string): string {
  return text.replace(/(?<![\w.-])rqlite-operator-(?=[a-z])/g, `{{ include "rqlite-operator.fullname" . }}-`);
}

/** `{{` and `}}` as Helm prints them literally, in one pass so neither escape is re-escaped. */
export function escapeActions(text: string): string {
  return text.replace(/\{\{|\}\}/g, (m) => (m === "{{" ? '{{ "{{" }}' : '{{ "}}" }}'));
}

/** The whole file rendered only when `cond` holds. */
export function onlyIf(cond: string, body: string): string {
  return `{{- if ${cond} }}\n${body}\n{{- end }}`;
}

/** Replaces `key` of `obj` by `newKey: value` in the same position (YAML keeps key order). */
export function replaceKey(obj: Record<string, unknown>, key: string, newKey: string, value: unknown): void {
  if (!(key in obj)) throw new Error(`replaceKey: no key ${key} (have: ${Object.keys(obj).join(", ")})`);
  const entries = Object.entries(obj).map(([k, v]): [string, unknown] => (k === key ? [newKey, value] : [k, v]));
  for (const k of Object.keys(obj)) delete obj[k];
  Object.assign(obj, Object.fromEntries(entries));
}

/** Inserts `newKey: value` just before `before` (or last when absent). */
export function insertKey(obj: Record<string, unknown>, before: string, newKey: string, value: unknown): void {
  const entries = Object.entries(obj);
  const at = entries.findIndex(([k]) => k === before);
  entries.splice(at < 0 ? entries.length : at, 0, [newKey, value]);
  for (const k of Object.keys(obj)) delete obj[k];
  Object.assign(obj, Object.fromEntries(entries));
}

export function pad(n: number): string {
  return " ".repeat(n);
}

function indentText(text: string, n: number): string {
  return text
    .split("\n")
    .map((l) => (l ? pad(n) + l : l))
    .join("\n");
}
