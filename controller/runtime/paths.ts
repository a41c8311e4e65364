// Every API path the operator sends is built here, from segments each encoded on its own. A name
// is a path segment, never a path: "../../other-ns/secrets/x" unencoded would be collapsed by
// `new URL` into another namespace's Secret. Kubernetes itself refuses object names that are "."
// or "..", or that contain "/" or "%" (apimachinery's IsValidPathSegmentName), so such a segment
// can only be an attack or a bug, and is refused with the reason rather than sent.

/** A segment that names no object Kubernetes could hold; the message says which and why. */
export class PathSegmentError extends Error {}

/** Why `segment` cannot be one segment of an API path, or undefined when it can. */
export function pathSegmentProblem(segment: string): string | undefined {
  if (segment === "") return "is empty";
  if (segment === "." || segment === "..") return `may not be "${segment}"`;
  if (segment.includes("/")) return 'may not contain "/"';
  if (segment.includes("%")) return 'may not contain "%"';
  return undefined;
}

/** One path segment, percent-encoded; throws PathSegmentError for one no object can be named. */
export function pathSegment(segment: string, what = "path segment"): string {
  const problem = pathSegmentProblem(segment);
  if (problem) throw new PathSegmentError(`${what} ${JSON.stringify(segment)} ${problem}`);
  return encodeURIComponent(segment);
}

/** "/" followed by each segment encoded, e.g. apiPath(["api", "v1", "namespaces", ns]). */
export function apiPath(segments: readonly string[]): string {
  return segments.map((s) => `/${pathSegment(s)}`).join("");
}

/** The group-version prefix: ["api", "v1"] for the core group, else ["apis", group, version]. */
function groupVersion(apiVersion: string): string[] {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? ["api", apiVersion] : ["apis", apiVersion.slice(0, slash), apiVersion.slice(slash + 1)];
}

/** What an API path names: a resource of an API version, in a namespace or not, by name or all. */
export interface PathTarget {
  /** "v1", "policy/v1", "rqlite.io/v1alpha1". */
  apiVersion: string;
  /** The plural resource, e.g. "pods". */
  resource: string;
  namespace?: string;
  name?: string;
  /** e.g. "status", "eviction", "proxy". */
  subresource?: string;
}

/**
 * The path of a collection (no name) or of one object. Each part is checked and encoded on its
 * own; the error names the part (namespace, name, ...) that was refused.
 */
export function objectPath(t: PathTarget): string {
  const parts = [
    ...groupVersion(t.apiVersion).map((s) => pathSegment(s, "API version part")),
    ...(t.namespace === undefined ? [] : ["namespaces", pathSegment(t.namespace, "namespace")]),
    pathSegment(t.resource, "resource"),
    ...(t.name === undefined ? [] : [pathSegment(t.name, `${t.resource} name`)]),
    ...(t.subresource === undefined ? [] : [pathSegment(t.subresource, "subresource")]),
  ];
  return parts.map((p) => `/${p}`).join("");
}

// The plural is guessed as client-go's UnsafeGuessKindToResource does, which is right for every
// built-in kind the operator touches and for its own custom resources.
function pluralOf(kind: string): string {
  const lower = kind.toLowerCase();
  if (lower.endsWith("s")) return `${lower}es`;
  if (lower.endsWith("y")) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

/** objectPath by kind rather than resource. */
export function resourcePath(
  apiVersion: string,
  kind: string,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  return objectPath({
    apiVersion,
    resource: pluralOf(kind),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(subresource !== undefined ? { subresource } : {}),
  });
}
