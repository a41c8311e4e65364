// Container image references in the grammar of github.com/distribution/reference. The rqlite
// version a tag carries is read by shared/rqlite-versions.ts.

export interface ImageReference {
  /** Registry host[:port], absent for Docker Hub shorthand. */
  domain?: string;
  /** Repository path without the domain, e.g. `rqlite/rqlite`. */
  path: string;
  tag?: string;
  digest?: string;
}

const ALNUM = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|[-]+)";
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9A-Fa-f:]+\\])(?::[0-9]+)?`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";

const REFERENCE_RE = new RegExp(
  `^(?:(${DOMAIN})/)?(${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`,
);
const NAME_MAX_LENGTH = 255;

/** Parses a reference; undefined when it is not one a container runtime would pull. */
export function parseImageReference(ref: string): ImageReference | undefined {
  const m = REFERENCE_RE.exec(ref);
  if (!m) return undefined;
  const [, rawDomain, rawPath, tag, digest] = m;
  let domain = rawDomain;
  let path = rawPath;
  // The grammar is ambiguous for `a/b`: like Docker, a first component is a registry only when
  // it looks like a host (a dot, a port, uppercase, or localhost); otherwise it is path.
  if (domain !== undefined && !/[.:A-Z]|^localhost$|^\[/.test(domain)) {
    path = `${domain}/${path}`;
    domain = undefined;
  }
  const name = domain ? `${domain}/${path}` : path!;
  if (name.length > NAME_MAX_LENGTH) return undefined;
  return { path: path!, ...(domain && { domain }), ...(tag && { tag }), ...(digest && { digest }) };
}
