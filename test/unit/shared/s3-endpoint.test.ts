// The S3 endpoint rules (shared/s3-endpoint.ts) as a table, the ambient-credentials rule, and
// the controller's connect-time gate (controller/rqcluster/s3.ts) against a real loopback
// listener: a name that resolves to a refused address never gets a request.
import { strict as assert } from "node:assert";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import {
  describeS3Error,
  guardedLookup,
  newS3Client,
  S3AccessError,
  type ResolveAll,
  type S3Gate,
} from "../../../controller/access/s3.js";
import {
  addressRefusal,
  ambientCredentialsRefusal,
  apiServerOf,
  displayEndpoint,
  endpointRefusal,
  ipBytes,
  parseEndpointAllow,
  parseNamespaceList,
  s3ConnectionErrors,
  STRICT_S3_POLICY,
  validateCreate,
  type S3Policy,
} from "../../../shared/index.js";

const policy = (allow: string, extra: Partial<S3Policy> = {}): S3Policy => ({
  ...STRICT_S3_POLICY,
  allow: parseEndpointAllow(allow),
  ...extra,
});

describe("S3 endpoint rules", () => {
  // [endpoint, what the refusal says (undefined: allowed)] under the default policy.
  const table: [string, RegExp | undefined][] = [
    ["https://s3.eu-west-1.amazonaws.com", undefined],
    ["http://minio.storage.svc:9000", undefined],
    ["https://10.0.0.12:9000", undefined],
    ["https://[2001:db8::1]", undefined],
    ["https://AKIAKEY:secret@s3.example.com", /may not contain a user name or password/],
    ["https://AKIAKEY@s3.example.com", /may not contain a user name or password/],
    ["ftp://s3.example.com", /must use http or https, not ftp/],
    ["file:///etc/passwd", /must use http or https, not file/],
    ["s3.example.com", /must be an absolute URL/],
    ["http://169.254.169.254/latest/meta-data", /points at 169\.254\.169\.254, the cloud metadata service's address/],
    ["http://169.254.10.1", /points at 169\.254\.10\.1, a link-local address/],
    ["http://[fe80::1]", /points at fe80::1, a link-local address/],
    ["http://[fd00:ec2::254]", /the cloud metadata service's address/],
    ["http://metadata.google.internal", /the cloud metadata service's address/],
    ["http://127.0.0.1:9000", /points at 127\.0\.0\.1, a loopback address/],
    ["http://127.45.6.7", /a loopback address/],
    ["http://[::1]:9000", /points at ::1, a loopback address/],
    ["http://localhost:9000", /points at localhost, a loopback address/],
    ["http://LOCALHOST.:9000", /points at localhost\., a loopback address/],
    ["http://s3.localhost", /a loopback address/],
    ["http://0.0.0.0:9000", /points at 0\.0\.0\.0, an unspecified address/],
    ["http://[::]:9000", /an unspecified address/],
    // Numeric tricks: what URL parsers and resolvers turn into 127.0.0.1.
    ["http://2130706433", /points at 127\.0\.0\.1, a loopback address/],
    ["http://0x7f000001", /points at 127\.0\.0\.1/],
    ["http://0x7f.1", /points at 127\.0\.0\.1/],
    ["http://0177.0.0.1", /points at 127\.0\.0\.1/],
    ["http://127.1", /points at 127\.0\.0\.1/],
    ["http://%31%32%37.0.0.1", /points at 127\.0\.0\.1/],
    ["http://[::ffff:127.0.0.1]", /points at ::ffff:7f00:1, a loopback address/],
    ["http://[0:0:0:0:0:ffff:a9fe:a9fe]", /the cloud metadata service's address/],
    ["http://[::127.0.0.1]", /an IPv4-compatible IPv6 address/],
    // The API server, by its Service's names.
    ["https://kubernetes", /points at kubernetes, the API server/],
    ["https://kubernetes.default", /the API server/],
    ["https://kubernetes.default.svc", /the API server/],
    ["https://kubernetes.default.svc.cluster.local", /the API server/],
    ["https://kubernetes.default.svc.corp.example.", /the API server/],
  ];
  for (const [endpoint, refusal] of table) {
    it(`${refusal ? "refuses" : "allows"} ${endpoint}`, () => {
      const got = endpointRefusal(endpoint, STRICT_S3_POLICY);
      if (refusal === undefined) assert.equal(got, undefined);
      else assert.match(got ?? "(allowed)", refusal);
      if (refusal && !/user name/.test(refusal.source) && !/http or https|absolute/.test(refusal.source))
        assert.match(got!, /--s3-endpoint-allow/, "a refusal names the setting that allows it");
    });
  }

  it("allows what --s3-endpoint-allow names: CIDRs unlock addresses, host names unlock names", () => {
    const p = policy("127.0.0.1/32, *.s3.internal, minio.local, 169.254.0.0/16");
    assert.equal(endpointRefusal("http://127.0.0.1:9000", p), undefined);
    assert.equal(endpointRefusal("http://2130706433:9000", p), undefined);
    assert.equal(endpointRefusal("http://[::ffff:127.0.0.1]", p), undefined);
    assert.match(endpointRefusal("http://127.0.0.2", p)!, /loopback/);
    assert.equal(endpointRefusal("http://a.b.s3.internal", p), undefined);
    assert.equal(endpointRefusal("http://minio.local", p), undefined);
    assert.equal(endpointRefusal("http://169.254.169.254", p), undefined);
    // A host pattern allows names, never the addresses they resolve to (see the gate below).
    assert.match(endpointRefusal("http://localhost", policy("*.s3.internal"))!, /loopback/);
    // Never userinfo, whatever is allowed.
    assert.match(endpointRefusal("http://k:s@minio.local", p)!, /user name or password/);
  });

  it("refuses the API server's own addresses even inside an allowed range, unless named exactly", () => {
    const apiServer = apiServerOf(["10.96.0.1", "[fd00::1]", "api.cluster.example."]);
    assert.deepEqual(apiServer, { addresses: ["10.96.0.1", "fd00::1"], hosts: ["api.cluster.example"] });
    const broad = policy("10.0.0.0/8, fd00::/8, *.cluster.example", { apiServer });
    assert.equal(endpointRefusal("http://10.1.2.3", broad), undefined);
    assert.match(endpointRefusal("https://10.96.0.1", broad)!, /points at 10\.96\.0\.1, the API server.*exactly/);
    assert.match(endpointRefusal("https://[fd00::1]", broad)!, /the API server/);
    assert.match(endpointRefusal("https://api.cluster.example", broad)!, /the API server/);
    const exact = policy("10.96.0.1/32, api.cluster.example, kubernetes.default.svc", { apiServer });
    assert.equal(endpointRefusal("https://10.96.0.1", exact), undefined);
    assert.equal(endpointRefusal("https://api.cluster.example", exact), undefined);
    assert.equal(endpointRefusal("https://kubernetes.default.svc", exact), undefined);
  });

  it("judges resolved addresses as the connect-time gate sees them", () => {
    assert.match(addressRefusal("127.0.0.1", STRICT_S3_POLICY)!, /loopback/);
    assert.match(addressRefusal("::ffff:169.254.169.254", STRICT_S3_POLICY)!, /metadata/);
    assert.equal(addressRefusal("93.184.215.14", STRICT_S3_POLICY), undefined);
    assert.equal(addressRefusal("127.0.0.1", policy("127.0.0.0/8")), undefined);
    assert.equal(addressRefusal("::ffff:127.0.0.1", policy("127.0.0.1/32")), undefined);
    assert.equal(addressRefusal("::1", policy("127.0.0.1/32")) !== undefined, true);
  });

  it("reads IPv6 addresses, embedded IPv4 included, as bytes", () => {
    assert.deepEqual(ipBytes("::ffff:10.1.2.3"), [10, 1, 2, 3]);
    assert.deepEqual(ipBytes("::ffff:a01:203"), [10, 1, 2, 3]);
    assert.deepEqual(ipBytes("2001:db8::ff00:42"), [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0x42]);
    assert.equal(ipBytes("not-an-ip"), undefined);
  });

  it("parses the settings, and refuses entries it cannot read", () => {
    assert.deepEqual(parseEndpointAllow(""), { cidrs: [], hosts: [] });
    const list = parseEndpointAllow("10.0.0.0/8,fd00::/8, 192.168.1.7 ,*.S3.internal, minio.storage.svc.");
    assert.deepEqual(
      list.cidrs.map((c) => [c.text, c.bits]),
      [
        ["10.0.0.0/8", 8],
        ["fd00::/8", 8],
        ["192.168.1.7", 32],
      ],
    );
    assert.deepEqual(list.hosts, ["*.s3.internal", "minio.storage.svc"]);
    // An IPv4-mapped range is the IPv4 range it maps.
    const mapped = policy("::ffff:127.0.0.0/104");
    assert.equal(addressRefusal("127.0.0.5", mapped), undefined);
    assert.notEqual(addressRefusal("127.0.0.5", STRICT_S3_POLICY), undefined);
    assert.equal(mapped.allow.cidrs[0]!.bits, 8);
    for (const bad of ["10.0.0.0/33", "10.0.0", "not a host", "*", "a.*.b", "http://x", "::1/129"])
      assert.throws(() => parseEndpointAllow(bad), /--s3-endpoint-allow: .* is neither a CIDR .* nor a host name/, bad);
    assert.deepEqual(parseNamespaceList(" team-a,team-b,, "), ["team-a", "team-b"]);
    assert.deepEqual(parseNamespaceList("*"), ["*"]);
    assert.throws(() => parseNamespaceList("Team_A"), /--ambient-credentials-namespaces: "Team_A" is not a namespace/);
  });

  it("shows an endpoint without its user name and password", () => {
    assert.equal(displayEndpoint("https://AKIA:secret@s3.example.com:9000/"), "https://s3.example.com:9000");
    assert.equal(displayEndpoint("not a url key:secret@host"), "host");
  });
});

describe("ambient credentials", () => {
  const s3 = { bucket: "backups", path: "p/db.gz" };
  it("are refused by default, with the remedy, for an object without credentialsSecret", () => {
    const [e] = s3ConnectionErrors(s3, "spec.backup.s3", "team-a", STRICT_S3_POLICY);
    assert.equal(e?.field, "spec.backup.s3.credentialsSecret");
    assert.equal(e?.type, "Required");
    assert.match(e.message, /its own AWS identity, which namespace "team-a" may not use/);
    assert.match(e.message, /--ambient-credentials-namespaces/);
    assert.deepEqual(
      s3ConnectionErrors({ ...s3, credentialsSecret: { name: "k" } }, "x", "team-a", STRICT_S3_POLICY),
      [],
    );
  });
  it("are allowed in the namespaces the administrator names, or everywhere with *", () => {
    const some = { ...STRICT_S3_POLICY, ambientCredentialsNamespaces: ["team-a"] };
    assert.equal(ambientCredentialsRefusal("team-a", some), undefined);
    assert.notEqual(ambientCredentialsRefusal("team-b", some), undefined);
    assert.notEqual(ambientCredentialsRefusal(undefined, some), undefined);
    assert.equal(
      ambientCredentialsRefusal("team-b", { ...STRICT_S3_POLICY, ambientCredentialsNamespaces: ["*"] }),
      undefined,
    );
  });
  it("reach an RqCluster's spec.backup and spec.restore through validateCreate, by the object's namespace", () => {
    const cluster = (namespace: string) => ({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: "db", namespace },
      spec: { replicas: 1, backup: { s3 }, restore: { s3: { bucket: "backups", key: "latest" } } },
    });
    const allowA = { ...STRICT_S3_POLICY, ambientCredentialsNamespaces: ["team-a"] };
    const refused = validateCreate(cluster("team-b"), allowA);
    assert.deepEqual(
      refused.errors.map((e) => e.field),
      ["spec.backup.s3.credentialsSecret", "spec.restore.s3.credentialsSecret"],
    );
    const allowed = validateCreate(cluster("team-a"), allowA);
    assert.deepEqual(allowed.errors, []);
    assert.equal(allowed.warnings.filter((w) => /ambient AWS credentials/.test(w)).length, 2);
  });
});

describe("the controller's S3 gate at connect time", () => {
  let server: Server;
  let port: number;
  let requests = 0;
  before(async () => {
    server = createServer((_req, res) => {
      requests++;
      res.writeHead(500).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise((r) => server.close(r)));

  // A resolver that answers as DNS would for a name a tenant controls.
  const pinned =
    (answers: Record<string, string[]>): ResolveAll =>
    (host, _opts, cb) => {
      const found = answers[host];
      if (!found) return cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" }), []);
      cb(
        null,
        found.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })),
      );
    };

  it("refuses a name that resolves to loopback: no request reaches the listener, status says only 'could not connect'", async () => {
    const gate: S3Gate = {
      policy: policy("*.tenant.example"),
      resolve: pinned({ "s3.tenant.example": ["127.0.0.1"] }),
    };
    const endpoint = `http://s3.tenant.example:${port}`;
    assert.equal(endpointRefusal(endpoint, gate.policy), undefined, "admission lets the allowed name through");
    const client = newS3Client(
      gate,
      { region: "us-east-1", endpoint, forcePathStyle: true },
      {
        accessKeyId: "a",
        secretAccessKey: "b",
      },
    );
    const before = requests;
    const err = await client.send(new ListObjectsV2Command({ Bucket: "b" })).then(
      () => undefined,
      (e: unknown) => e,
    );
    client.destroy();
    assert.ok(err, "the request failed");
    assert.equal(requests, before, "no request arrived");
    assert.equal(
      describeS3Error(err, "listing", endpoint),
      `listing: could not connect to S3 endpoint ${endpoint}; check that it is up and reachable from the operator, or ask an administrator whether --s3-endpoint-allow allows it`,
    );
  });

  it("refuses a name when any of its addresses is refused, whatever their order", async () => {
    const lookup = guardedLookup({
      policy: STRICT_S3_POLICY,
      resolve: pinned({ "mixed.example": ["93.184.215.14", "169.254.169.254"] }),
    });
    const result = await new Promise<unknown>((resolve) =>
      lookup("mixed.example", { all: true }, (err, addresses) => resolve(err ?? addresses)),
    );
    assert.equal((result as { code?: string }).code, "ERR_S3_ENDPOINT_REFUSED");
  });

  it("connects when the resolved address is allowed by CIDR, and answers Node's one-address form", async () => {
    const gate: S3Gate = {
      policy: policy("*.tenant.example, 127.0.0.1/32"),
      resolve: pinned({ "s3.tenant.example": ["127.0.0.1"] }),
    };
    const one = await new Promise<[unknown, unknown]>((resolve) =>
      guardedLookup(gate)("s3.tenant.example", {}, (err, address, family) => resolve([err ?? address, family])),
    );
    assert.deepEqual(one, ["127.0.0.1", 4]);
    const client = newS3Client(
      gate,
      {
        region: "us-east-1",
        endpoint: `http://s3.tenant.example:${port}`,
        forcePathStyle: true,
      },
      { accessKeyId: "a", secretAccessKey: "b" },
    );
    const before = requests;
    await client.send(new ListObjectsV2Command({ Bucket: "b" })).catch(() => {});
    client.destroy();
    assert.ok(requests > before, "the allowed address got the request");
  });

  it("refuses a literal address before any socket, which no lookup would see", () => {
    assert.throws(
      () =>
        newS3Client(
          { policy: STRICT_S3_POLICY },
          { region: "r", endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true },
          undefined,
        ),
      (err: unknown) => err instanceof S3AccessError && /points at 127\.0\.0\.1, a loopback address/.test(err.message),
    );
  });
});
