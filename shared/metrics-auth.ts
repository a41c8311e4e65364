// Who may read /metrics, decided by the API server as controller-runtime's secure metrics
// filter does: the caller's bearer token through a TokenReview, then a SubjectAccessReview for
// `get` on the non-resource URL. Metrics name every cluster and namespace the operator serves,
// which one tenant should not learn about another. Decisions are cached for a minute per token,
// so a scrape every 15 s costs the API server two requests a minute. Here, not in
// controller/runtime/, because the controller and the webhook both serve metrics this way.
import { createHash } from "node:crypto";

/** What the authorizer needs of an API client: a JSON POST (the controller's KubeClient is one). */
export interface ReviewClient {
  request<T>(req: { method: "POST"; path: string; body: unknown }): Promise<T>;
}

export interface MetricsDecision {
  code: 200 | 401 | 403 | 500;
  /** Why, for the answer's body and the log; never the token. */
  reason: string;
}

const CACHE_MS = 60_000;
const CACHE_MAX = 1024;

interface TokenReview {
  status?: {
    authenticated?: boolean;
    error?: string;
    user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  };
}

export function makeMetricsAuthorizer(
  client: ReviewClient,
  path = "/metrics",
  now: () => number = Date.now,
): (authorization: string | undefined) => Promise<MetricsDecision> {
  const cache = new Map<string, { decision: MetricsDecision; until: number }>();

  async function decide(token: string): Promise<MetricsDecision> {
    const review = await client.request<TokenReview>({
      method: "POST",
      path: "/apis/authentication.k8s.io/v1/tokenreviews",
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } },
    });
    const user = review.status?.user;
    if (!review.status?.authenticated || !user?.username) return { code: 401, reason: "the token was not accepted" };
    const access = await client.request<{ status?: { allowed?: boolean } }>({
      method: "POST",
      path: "/apis/authorization.k8s.io/v1/subjectaccessreviews",
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SubjectAccessReview",
        spec: {
          user: user.username,
          ...(user.uid ? { uid: user.uid } : {}),
          groups: user.groups ?? [],
          ...(user.extra ? { extra: user.extra } : {}),
          nonResourceAttributes: { path, verb: "get" },
        },
      },
    });
    return access.status?.allowed
      ? { code: 200, reason: `${user.username} may get ${path}` }
      : {
          code: 403,
          reason: `${user.username} may not get ${path}; bind it to the ClusterRole rqlite-operator-metrics-reader`,
        };
  }

  return async (authorization) => {
    const token = /^Bearer +(\S+)$/i.exec(authorization ?? "")?.[1];
    if (!token) return { code: 401, reason: "send a bearer token (Authorization: Bearer ...)" };
    const key = createHash("sha256").update(token).digest("hex");
    const hit = cache.get(key);
    if (hit && hit.until > now()) return hit.decision;
    let decision: MetricsDecision;
    try {
      decision = await decide(token);
    } catch (err) {
      // Not cached: the next scrape asks again once the API server answers.
      return { code: 500, reason: `cannot check the caller with the API server: ${(err as Error).message}` };
    }
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(key, { decision, until: now() + CACHE_MS });
    return decision;
  };
}
