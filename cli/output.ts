// How the plugin prints: aligned columns for people, JSON or YAML for scripts, CSV for sheets.
import { Option } from "commander";
import { stringify } from "yaml";

export type Format = "json" | "yaml";

/** `-o json|yaml`, the flag of every read command. */
export const outputOption = (extra: string[] = []) =>
  new Option("-o, --output <format>", "output format").choices([...extra, "json", "yaml"]);

export const isFormat = (f: string | undefined): f is Format => f === "json" || f === "yaml";

export function serialize(value: unknown, format: Format): string {
  return format === "json" ? `${JSON.stringify(value, null, 2)}\n` : stringify(value);
}

/** Columns padded to their widest cell, as kubectl prints, the header first. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("   ")
      .trimEnd();
  return [header, ...rows].map(line).join("\n") + "\n";
}

/** RFC 4180: quote a field that holds a comma, quote or line break. */
export function csv(header: string[], rows: unknown[][]): string {
  const field = (v: unknown) => {
    const s = cell(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(field).join(",")).join("\r\n") + "\r\n";
}

/** A value as one table or CSV cell; NULL prints as SQL shells print it. */
export function cell(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  return JSON.stringify(v);
}

/** "3m20s"-style age, as kubectl shows it. */
export function age(from: string | Date | undefined, now = Date.now()): string {
  if (!from) return "<unknown>";
  const s = Math.max(0, Math.floor((now - new Date(from).getTime()) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ""}`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) || ""}${s % 3600 >= 60 ? "m" : ""}`;
  return `${Math.floor(s / 86_400)}d`;
}
