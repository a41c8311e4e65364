// REST paths from kinds. The plural is guessed as client-go's UnsafeGuessKindToResource does,
// which is right for every built-in kind the operator touches and for its own custom resources.
function pluralOf(kind: string): string {
  const lower = kind.toLowerCase();
  if (lower.endsWith("s")) return `${lower}es`;
  if (lower.endsWith("y")) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

export function resourcePath(apiVersion: string, kind: string, namespace?: string, name?: string): string {
  const plural = pluralOf(kind);
  const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return `${base}${namespace ? `/namespaces/${namespace}` : ""}/${plural}${name ? `/${name}` : ""}`;
}
