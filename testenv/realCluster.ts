// A real Kubernetes on this machine: the test control plane (controlplane.ts) plus N nodes, each
// a kubelet, a containerd with runc, kube-proxy in nftables mode and kube-router's NetworkPolicy
// firewall, in its own network namespace and private mount namespace; CoreDNS in Pods; images
// imported into every node from hack/build-images.sh (nothing is pulled). Nothing on the host changes but the cgroups
// it creates: the nodes sit behind a hub namespace with no uplink, every sysctl written is a
// namespace's own, and the kubelet's expected kernel values are files bind-mounted over
// /proc/sys in the node's mount namespace only.
//
//   host (loopback)            hub netns (bridge rqo0, 10.250.0.1)     node-i netns (10.250.0.1i)
//   kube-apiserver 127.0.0.1 <- relay (netnsRelay.ts) <---------------- kubelet, kube-proxy, Pods
//   S3 server 127.0.0.1      <- relay at 10.250.0.2 (Unix sockets cross namespaces)  Pods: 10.244.i.0/24 (ptp)
//   egress selector ---------> CONNECT proxy ------------------------> kubelets, Pods, webhooks
//
// Pods use the ptp CNI plugin, as kindnet does, not a bridge: every packet between Pods is then
// routed through its node's namespace, where kube-proxy's and kube-router's rules see it (a bridge would switch same-node traffic past them without br_netfilter).
// Everything started is recorded with the reaper (processes.ts, hack/reaper.sh): processes, each
// node's mount namespace (containerd's shims leave every process group), the cgroup tree the
// kubelets put containers in, and the folder, so a crashed test leaves nothing behind either.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, readlink, realpath, writeFile } from "node:fs/promises";
import { createServer, connect, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { buildBinaries, cacheAssetsDir } from "./assets.js";
import { startControlPlane, type ControlPlane } from "./controlplane.js";
import { renderKubeconfig } from "./kubeconfig.js";
import { freePort } from "./ports.js";
import { ProcessGroup, type Managed } from "./processes.js";

const REPO = fileURLToPath(new URL("..", import.meta.url));
export const HUB_IP = "10.250.0.1";
/**
 * Where Pods reach the host's loopback ports a test names (RealClusterOptions.hostPorts), e.g. the
 * S3 server: an address of its own, not the API server's, as a cluster's object store has.
 */
export const HUB_HOST_IP = "10.250.0.2";
/** Where the hub's relays (the API server's calls, podTunnels.ts) come from, as a Pod sees it. */
export const HUB_CIDR = "10.250.0.0/24";
export const CLUSTER_DNS_IP = "10.0.0.10";
/**
 * The API server's port as nodes and Pods see it: a cluster's usual one, which NetworkPolicies
 * (the operator's own among them) allow by number, after kube-proxy translated the Service's 443.
 */
export const HUB_API_PORT = 6443;
const POD_CIDR = "10.244.0.0/16";
export const ZONES = ["zone-a", "zone-b", "zone-c"];
/** The tools a node runs, built by hack/build-binaries.sh. */
export const REAL_NODE_TOOLS = ["kubelet", "kube-proxy", "kube-router", "local-path-provisioner"];
/** The default StorageClass: local-path-provisioner's folders under LOCAL_PATH on each node. */
export const LOCAL_PATH_CLASS = "local-path";
const LOCAL_PATH = "/var/lib/rqo-local-path";
/** The images every node imports (hack/build-images.sh names the archives so). */
export const REAL_NODE_IMAGES = ["pause", "coredns", "busybox", "rqlite-8.43.4", "rqlite-8.36.0", "operator"];
export const BUSYBOX_IMAGE = "docker.io/library/busybox:rqlite-operator";
/** The Debian packages a real node needs on the host, with a command of each to look for. */
export const REAL_NODE_PACKAGES: Record<string, string> = {
  containerd: "containerd",
  runc: "runc",
  "containernetworking-plugins": "/usr/lib/cni/ptp",
  nftables: "nft",
  iptables: "iptables",
  ipset: "ipset",
  podman: "podman",
};
/** The kernel values kubelet requires with protectKernelDefaults, shown to it per node. */
const KUBELET_SYSCTLS: Record<string, string> = {
  "vm/overcommit_memory": "1",
  "vm/panic_on_oom": "0",
  "kernel/panic": "10",
  "kernel/panic_on_oops": "1",
  "kernel/keys/root_maxkeys": "1000000",
  "kernel/keys/root_maxbytes": "25000000",
};

export interface RealClusterOptions {
  /** Nodes to run; default 3, one per zone (topology.kubernetes.io/zone). */
  nodes?: number;
  /** Ports on the host's loopback that Pods reach at HUB_HOST_IP:PORT (e.g. the S3 server's). */
  hostPorts?: number[];
}

export interface RealNode {
  name: string;
  zone: string;
  ip: string;
  podCidr: string;
  /** The holder of its namespaces: `nsenter -t PID -m -n` runs a command on the node. */
  holderPid: number;
  /** The cgroup its kubelet puts Pods in (under every v1 hierarchy). */
  cgroup: string;
  /** Its agents as last started (RealCluster.restartNode starts them again). */
  kubelet: Managed;
  containerd: Managed;
  kubeProxy: Managed;
  networkPolicies: Managed;
}

export interface RealCluster {
  cp: ControlPlane;
  nodes: RealNode[];
  /** Milliseconds from the start to every node Ready and CoreDNS available. */
  readyMs: number;
  /** The hub's CONNECT proxy: a way from the host into the nodes and Pods (see podTunnels.ts). */
  egressSocket: string;
  /** Where the logs of every node's processes are. */
  dir: string;
  /** Runs a command in a node's namespaces (e.g. `nft list ruleset`, `ctr -n k8s.io tasks kill ...`). */
  onNode(node: RealNode, args: string[]): Promise<string>;
  /**
   * The node dies as a machine that loses power: its kubelet, containerd, kube-proxy, firewall,
   * containerd's shims and every container are SIGKILLed. Its network and files stay, as a disk does.
   */
  loseNode(node: RealNode): Promise<void>;
  /**
   * Only its kubelet and containerd are SIGKILLed: the containers run on under their shims, and
   * serve, while Kubernetes hears nothing from the node.
   */
  killKubelet(node: RealNode): Promise<void>;
  /** Starts the node's agents that are not running again, on the state it kept, as a machine that boots. */
  restartNode(node: RealNode): Promise<void>;
  /** Cuts the node off: the hub's end of its veth goes down (no API server, no other node, no Pod). */
  partitionNode(node: RealNode): Promise<void>;
  /** Brings the hub's end of its veth back up. */
  healNode(node: RealNode): Promise<void>;
  stop(): Promise<void>;
}

const run = (file: string, args: string[], input?: string, timeoutMs = 120_000) =>
  new Promise<string>((resolve, reject) => {
    const child = execFile(file, args, { maxBuffer: 16 << 20, timeout: timeoutMs }, (err, stdout, stderr) =>
      err ? reject(new Error(`${file} ${args.join(" ")}: ${stderr.trim() || err.message}`)) : resolve(stdout),
    );
    // A command that exits without reading its input must not fail the caller with EPIPE.
    child.stdin!.on("error", () => {});
    child.stdin!.end(input ?? "");
  });
const nsenter = (pid: number, args: string[], mount = true) =>
  run("nsenter", ["-t", String(pid), "-n", ...(mount ? ["-m"] : []), "--", ...args]);
const progress = (since: number, what: string) => {
  if (process.env.TESTENV_QUIET !== "1")
    console.error(`real-cluster: ${((Date.now() - since) / 1000).toFixed(1)} s: ${what}`);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await sleep(200);
  }
  throw new Error(`${what} within ${timeoutMs / 1000} s${last ? `: ${(last as Error).message}` : ""}`);
}

/** Fails with the Debian packages to install when a node's host tools are missing. */
async function preflight(): Promise<void> {
  const missing: string[] = [];
  for (const [pkg, cmd] of Object.entries(REAL_NODE_PACKAGES)) {
    const found = cmd.startsWith("/") ? existsSync(cmd) : await run("sh", ["-c", `command -v ${cmd}`]).catch(() => "");
    if (!found) missing.push(pkg);
  }
  if (missing.length)
    throw new Error(
      `the real cluster needs Debian packages ${missing.join(", ")}: apt-get install -y ${missing.join(" ")}`,
    );
  if (process.getuid?.() !== 0) throw new Error("the real cluster needs root (network and mount namespaces, cgroups)");
}

/** Builds (cold) or finds (warm) the node tools and image archives; returns [assets, images]. */
async function buildAll(): Promise<[string, string]> {
  const assets = await buildBinaries(REAL_NODE_TOOLS);
  // A cold build (npm ci in the operator's image) takes minutes.
  const images = join(REPO, "hack/build-images.sh");
  await run("bash", [images, "pause", "coredns", "busybox", "rqlite", "operator"], undefined, 3_600_000);
  return [assets, join(cacheAssetsDir(), "../images")];
}

/** A process holding a new network and mount namespace, once it holds them. */
async function startHolder(procs: ProcessGroup, name: string, dir: string): Promise<number> {
  const holder = procs.start(
    `${name}-holder`,
    "unshare",
    ["--net", "--mount", "--propagation", "private", "--", "sleep", "infinity"],
    join(dir, `${name}-holder.log`),
  );
  const pid = holder.child.pid!;
  const ours = await readlink("/proc/self/ns/net");
  await until(
    `${name}'s namespaces`,
    10_000,
    async () =>
      (await readlink(`/proc/${pid}/ns/net`)) !== ours &&
      (await readFile(`/proc/${pid}/comm`, "utf8")).trim() === "sleep",
  );
  procs.killMountNamespaceOnExit(/\[(\d+)\]/.exec(await readlink(`/proc/${pid}/ns/mnt`))![1]!);
  return pid;
}

/** Unix socket -> 127.0.0.1:port, the host end of a relayed port. */
function hostEnd(socket: string, port: number): Promise<Server> {
  const server = createServer((client) => {
    const upstream = connect(port, "127.0.0.1");
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(socket, () => resolve(server));
  });
}

/** The cgroup v1 hierarchies the kubelet uses, and the cpuset values a new cpuset cgroup needs. */
async function makeCgroup(path: string): Promise<void> {
  const root = "/sys/fs/cgroup";
  for (const h of await readdir(root)) {
    if (h === "unified") continue;
    let at = join(root, h);
    for (const part of path.split("/").filter(Boolean)) {
      at = join(at, part);
      await mkdir(at, { recursive: true });
      if (h === "cpuset")
        for (const f of ["cpuset.cpus", "cpuset.mems"])
          await writeFile(join(at, f), await readFile(join(at, "..", f), "utf8"));
    }
  }
}

export async function startRealCluster(opts: RealClusterOptions = {}): Promise<RealCluster> {
  const started = Date.now();
  const count = opts.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 9) throw new Error(`nodes: ${count} is not between 1 and 9`);
  await preflight();
  const [assets, images] = await buildAll();
  progress(started, "binaries and images ready");
  const dir = await mkdtemp(join(tmpdir(), "rqo-real-"));
  const runId = dir
    .slice(-6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "x");
  const cgroupRoot = `/rqo-${runId}`;
  const procs = new ProcessGroup();
  procs.removeOnExit(dir);
  procs.removeCgroupOnExit(cgroupRoot);
  const servers: Server[] = [];
  let cp: ControlPlane | undefined;
  const stop = async () => {
    await procs.stopAll();
    for (const s of servers) s.close();
    await cp?.stop();
  };
  try {
    const apiPort = await freePort();
    const hub = await startHub(procs, dir);
    // [address in the hub, port there, port on the host's loopback]
    const forwards: Array<[string, number, number]> = [
      [HUB_IP, HUB_API_PORT, apiPort],
      ...(opts.hostPorts ?? []).map((p): [string, number, number] => [HUB_HOST_IP, p, p]),
    ];
    for (const [, , port] of forwards) servers.push(await hostEnd(join(dir, `host-${port}.sock`), port));
    const egress = join(dir, "egress.sock");
    const relay = procs.start(
      "relay",
      "nsenter",
      [
        "-t",
        String(hub),
        "-n",
        "--",
        process.execPath,
        "--import",
        "tsx",
        join(REPO, "testenv/netnsRelay.ts"),
        ...forwards.flatMap(([ip, hub, host]) => ["--forward", `${ip}:${hub}=${join(dir, `host-${host}.sock`)}`]),
        "--connect",
        egress,
        "--allow",
        "10.250.0.",
        "--allow",
        "10.244.",
      ],
      join(dir, "relay.log"),
    );
    progress(started, "hub up");
    await until("the hub's relay listening", 30_000, async () =>
      (await readFile(relay.logFile, "utf8")).includes("listening"),
    );
    const egressConfig = join(dir, "egress-selector.yaml");
    await writeFile(
      egressConfig,
      stringify({
        apiVersion: "apiserver.k8s.io/v1beta1",
        kind: "EgressSelectorConfiguration",
        egressSelections: [
          { name: "cluster", connection: { proxyProtocol: "HTTPConnect", transport: { uds: { udsName: egress } } } },
        ],
      }),
    );
    cp = await startControlPlane({
      apiPort,
      realNodes: { servingIPs: [HUB_IP, "10.0.0.1"] },
      extraApiServerArgs: [
        // Pods reach the API server through the `kubernetes` Service, at HUB_IP:HUB_API_PORT,
        // which systemManifests() gives it (the API server would publish its loopback port).
        `--advertise-address=${HUB_IP}`,
        "--endpoint-reconciler-type=none",
        `--egress-selector-config-file=${egressConfig}`,
        // Webhooks are called at their Pods' addresses (the hub runs no kube-proxy).
        "--enable-aggregator-routing=true",
        "--kubelet-preferred-address-types=InternalIP,Hostname",
      ],
      scheduling: {
        extraControllerManagerArgs: [
          // Everything a cluster runs: Deployments, StatefulSets, EndpointSlices, ServiceAccounts.
          "--controllers=*",
        ],
      },
    });
    progress(started, "control plane ready");
    const kubeconfig = join(dir, "node.kubeconfig");
    await writeFile(
      kubeconfig,
      renderKubeconfig(`https://${HUB_IP}:${HUB_API_PORT}`, cp.pki.caCert, "admin", {
        clientCert: cp.pki.adminCert,
        clientKey: cp.pki.adminKey,
      }),
    );
    await cp.kubectlOk(["apply", "-f", "-"], { input: systemManifests() });
    // The control plane's host-path classes make root-only folders, which a non-root Pod (rqlite
    // runs as 1000) cannot write: local-path-provisioner's helper Pods make them on the node.
    await cp.kubectlOk([
      "annotate",
      "--overwrite",
      "storageclass",
      "--all",
      "storageclass.kubernetes.io/is-default-class=false",
    ]);
    await cp.kubectlOk(["apply", "-f", "-"], { input: localPathManifests() });
    procs.start(
      "local-path-provisioner",
      join(assets, "local-path-provisioner"),
      [
        "start",
        `--kubeconfig=${cp.kubeconfigPath}`,
        "--namespace=kube-system",
        `--provisioner-name=rancher.io/${LOCAL_PATH_CLASS}`,
        `--helper-image=${BUSYBOX_IMAGE}`,
        "--service-account-name=local-path-provisioner",
      ],
      join(dir, "local-path-provisioner.log"),
    );
    const archives = await Promise.all(REAL_NODE_IMAGES.map((i) => realpath(join(images, `${i}.tar`))));
    const nodes = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        startNode({
          procs,
          dir,
          assets,
          index: i + 1,
          count,
          hub,
          kubeconfig,
          cgroupRoot,
          archives,
        }),
      ),
    );
    progress(started, "nodes started");
    // `kubectl wait --all` fails at once while no kubelet has registered its Node yet.
    await until(
      "every kubelet registering its Node",
      60_000,
      async () =>
        (await cp!.kubectlOk(["get", "nodes", "-o", "name"])).trim().split("\n").filter(Boolean).length === count ||
        undefined,
    );
    await cp.kubectlOk(["wait", "--for=condition=Ready", "node", "--all", "--timeout=120s"], { timeoutMs: 130_000 });
    progress(started, "nodes Ready");
    await cp.kubectlOk(["-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=120s"], {
      timeoutMs: 130_000,
    });
    const theCp = cp;
    const hubLink = (node: RealNode, state: "up" | "down") =>
      nsenter(hub, ["ip", "link", "set", node.name, state], false).then(() => undefined);
    return {
      cp: theCp,
      nodes,
      readyMs: Date.now() - started,
      egressSocket: egress,
      dir,
      onNode: (node, args) => nsenter(node.holderPid, args),
      loseNode: (node) => killNode(node),
      killKubelet: async (node) => {
        for (const m of [node.kubelet, node.containerd]) await procs.stopOne(m, 0);
      },
      restartNode: async (node) => {
        Object.assign(node, await startAgents(procs, dir, assets, node, kubeconfig, undefined, node));
      },
      partitionNode: (node) => hubLink(node, "down"),
      healNode: (node) => hubLink(node, "up"),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The hub: a bridge every node's veth joins, the routes to each node's Pods, and no uplink. */
async function startHub(procs: ProcessGroup, dir: string): Promise<number> {
  const hub = await startHolder(procs, "hub", dir);
  const script = [
    "set -e",
    "ip link set lo up",
    "ip link add rqo0 type bridge",
    `ip addr add ${HUB_IP}/24 dev rqo0`,
    `ip addr add ${HUB_HOST_IP}/24 dev rqo0`,
    "ip link set rqo0 up",
    "echo 1 > /proc/sys/net/ipv4/ip_forward",
  ];
  await nsenter(hub, ["sh", "-c", script.join("\n")], false);
  return hub;
}

interface NodeContext {
  procs: ProcessGroup;
  dir: string;
  assets: string;
  index: number;
  count: number;
  hub: number;
  kubeconfig: string;
  cgroupRoot: string;
  archives: string[];
}

const nodeIp = (i: number) => `10.250.0.${10 + i}`;

async function startNode(c: NodeContext): Promise<RealNode> {
  const name = `node-${c.index}`;
  const zone = ZONES[(c.index - 1) % ZONES.length]!;
  const ip = nodeIp(c.index);
  const podCidr = `10.244.${c.index}.0/24`;
  const d = join(c.dir, name);
  await mkdir(join(d, "var-log"), { recursive: true });
  await mkdir(join(d, "sysctl"));
  await mkdir(join(d, "cni"));
  const pid = await startHolder(c.procs, name, c.dir);
  // The veth is made in the hub and its far end moved into the node: the host's own network
  // namespace never holds a link of ours.
  await nsenter(
    c.hub,
    [
      "sh",
      "-c",
      `set -e; ip link add ${name} type veth peer name eth0 netns ${pid}; ip link set ${name} master rqo0 up; ip route add ${podCidr} via ${ip}`,
    ],
    false,
  );
  const cgroup = `${c.cgroupRoot}/${name}`;
  await makeCgroup(cgroup);
  for (const [key, value] of Object.entries(KUBELET_SYSCTLS))
    await writeFile(join(d, "sysctl", key.replace(/\//g, ".")), `${value}\n`);
  const otherRoutes = Array.from({ length: c.count }, (_, j) => j + 1)
    .filter((j) => j !== c.index)
    .map((j) => `ip route add 10.244.${j}.0/24 via ${nodeIp(j)}`);
  await nsenter(pid, [
    "sh",
    "-c",
    [
      "set -e",
      "ip link set lo up",
      `ip addr add ${ip}/24 dev eth0`,
      "ip link set eth0 up",
      `ip route add default via ${HUB_IP}`,
      ...otherRoutes,
      "echo 1 > /proc/sys/net/ipv4/ip_forward",
      "mount -t tmpfs -o mode=0755 tmpfs /run",
      // In memory, and gone with the namespace: the unpacked images and Pods' files need no
      // removal, which on a busy disk took longer than the cluster took to start.
      "mount -t tmpfs -o mode=0755 tmpfs /var/lib",
      `mount --bind ${d}/var-log /var/log`,
      ...Object.keys(KUBELET_SYSCTLS).map((k) => `mount --bind ${d}/sysctl/${k.replace(/\//g, ".")} /proc/sys/${k}`),
    ].join("\n"),
  ]);

  await writeFile(
    join(d, "cni", "10-ptp.conflist"),
    JSON.stringify({
      cniVersion: "1.0.0",
      name: "rqo",
      plugins: [
        {
          type: "ptp",
          ipMasq: false,
          mtu: 1500,
          ipam: {
            type: "host-local",
            dataDir: "/var/lib/cni/networks",
            ranges: [[{ subnet: podCidr }]],
            routes: [{ dst: "0.0.0.0/0" }],
          },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    }),
  );
  await writeFile(join(d, "containerd.toml"), containerdConfig(d));
  await writeFile(join(d, "resolv.conf"), "nameserver 127.0.0.1\n");
  await writeFile(join(d, "kubelet.yaml"), stringify(kubeletConfig(d, ip, cgroup)));
  await writeFile(join(d, "kube-proxy.yaml"), stringify(kubeProxyConfig(c.kubeconfig, name)));
  const node = { name, zone, ip, podCidr, holderPid: pid, cgroup };
  const agents = await startAgents(c.procs, c.dir, c.assets, node, c.kubeconfig, async () => {
    const importing = Date.now();
    await nsenter(pid, [
      "sh",
      "-c",
      // Unpacked on first use: a node unpacks only the images its Pods run.
      c.archives.map((a) => `ctr -n k8s.io images import --no-unpack --digests ${a} >/dev/null`).join(" && "),
    ]);
    progress(importing, `${name}: images imported`);
  });
  return { ...node, ...agents };
}

type NodeAgents = Pick<RealNode, "kubelet" | "containerd" | "kubeProxy" | "networkPolicies">;

/**
 * A node's containerd, then (after `beforeKubelet`, once containerd answers) its kubelet,
 * kube-proxy and kube-router, from the configuration files in its folder; also a lost node's
 * restart, on the state it kept.
 */
async function startAgents(
  procs: ProcessGroup,
  dir: string,
  assets: string,
  node: Omit<RealNode, keyof NodeAgents>,
  kubeconfig: string,
  beforeKubelet?: () => Promise<void>,
  /** Agents still running are kept (after killKubelet, kube-proxy and kube-router). */
  running?: NodeAgents,
): Promise<NodeAgents> {
  const { name, holderPid: pid } = node;
  const d = join(dir, name);
  const alive = (m: Managed | undefined) => m && m.child.exitCode === null && m.child.signalCode === null;
  const onNode = (what: string, args: string[], old?: Managed) =>
    alive(old)
      ? old!
      : procs.start(
          `${what}-${name}`,
          "nsenter",
          ["-t", String(pid), "-n", "-m", "--", ...args],
          join(d, `${what}.log`),
        );
  const containerd = onNode("containerd", ["containerd", "--config", join(d, "containerd.toml")], running?.containerd);
  await until(`${name}'s containerd answering`, 30_000, async () =>
    (await nsenter(pid, ["ctr", "version"])).includes("Server"),
  );
  await beforeKubelet?.();
  const kubelet = onNode(
    "kubelet",
    [
      join(assets, "kubelet"),
      `--config=${join(d, "kubelet.yaml")}`,
      `--kubeconfig=${kubeconfig}`,
      `--hostname-override=${name}`,
      `--node-ip=${node.ip}`,
      `--node-labels=topology.kubernetes.io/zone=${node.zone}`,
      "--v=1",
    ],
    running?.kubelet,
  );
  const kubeProxy = onNode(
    "kube-proxy",
    [join(assets, "kube-proxy"), `--config=${join(d, "kube-proxy.yaml")}`, "--v=1"],
    running?.kubeProxy,
  );
  // kube-router's firewall alone (no routing, no service proxy): its iptables and ipset rules
  // enforce NetworkPolicies. kube-network-policies, which kind uses, queues packets through
  // nftables' queue expression, which this machine's kernel lacks (nft_queue: "No such file").
  // It exits when its Node is not registered yet, which the kubelet does only now: started again
  // until it stays up.
  const kubeRouter = [
    join(assets, "kube-router"),
    `--kubeconfig=${kubeconfig}`,
    `--hostname-override=${name}`,
    "--run-firewall=true",
    "--run-router=false",
    "--run-service-proxy=false",
    "--enable-cni=false",
    "--health-port=0",
    "--v=1",
  ];
  const networkPolicies = onNode(
    "kube-router",
    ["sh", "-c", `until ${kubeRouter.join(" ")}; do sleep 1; done`],
    running?.networkPolicies,
  );
  return { kubelet, containerd, kubeProxy, networkPolicies };
}

/**
 * SIGKILLs every process of a node but the holder of its namespaces: its agents and containerd's
 * shims share its mount namespace (the shims leave every process group), and its containers sit
 * in its cgroup, each in a mount namespace of its own. Until none is left: a shim may still be
 * starting a container while the first ones go.
 */
async function killNode(node: RealNode): Promise<void> {
  const mnt = await readlink(`/proc/${node.holderPid}/ns/mnt`);
  const victims = async () => {
    const pids = new Set<number>();
    for (const entry of await readdir("/proc")) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid === node.holderPid) continue;
      if ((await readlink(`/proc/${pid}/ns/mnt`).catch(() => "")) === mnt) pids.add(pid);
    }
    for (const h of await readdir("/sys/fs/cgroup")) {
      const procs = await run("find", [join("/sys/fs/cgroup", h, node.cgroup), "-name", "cgroup.procs"]).catch(
        () => "",
      );
      for (const f of procs.split("\n").filter(Boolean))
        for (const p of (await readFile(f, "utf8").catch(() => "")).split("\n").filter(Boolean)) pids.add(Number(p));
    }
    return [...pids];
  };
  await until(`every process of ${node.name} gone`, 30_000, async () => {
    const pids = await victims();
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    return pids.length === 0;
  });
}

function containerdConfig(d: string): string {
  return `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/rqlite-operator/pause:v1"
  # Root here lacks CAP_SYS_RESOURCE: runc cannot lower the sandbox's oom_score_adj otherwise.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${join(d, "cni")}"
`;
}

function kubeletConfig(d: string, ip: string, cgroupRoot: string): object {
  return {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    containerRuntimeEndpoint: "unix:///run/containerd/containerd.sock",
    cgroupDriver: "cgroupfs",
    cgroupRoot,
    failSwapOn: false,
    failCgroupV1: false,
    // Checked, never written: the node's mount namespace shows the kubelet these values.
    protectKernelDefaults: true,
    resolvConf: join(d, "resolv.conf"),
    clusterDNS: [CLUSTER_DNS_IP],
    clusterDomain: "cluster.local",
    address: ip,
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    // The API server is the only client (from the hub): anonymous calls are allowed in this
    // private network, instead of a client certificate and a webhook authorizer per node.
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: "AlwaysAllow" },
    // The test machine's disk and memory are shared: no eviction or image GC on their account.
    evictionHard: {
      "memory.available": "1Mi",
      "nodefs.available": "1%",
      "imagefs.available": "1%",
      "nodefs.inodesFree": "1%",
    },
    imageGCHighThresholdPercent: 100,
    serializeImagePulls: false,
    nodeStatusUpdateFrequency: "2s",
  };
}

function kubeProxyConfig(kubeconfig: string, name: string): object {
  return {
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    mode: "nftables",
    clientConnection: { kubeconfig },
    hostnameOverride: name,
    clusterCIDR: POD_CIDR,
    healthzBindAddress: "127.0.0.1:10256",
    metricsBindAddress: "127.0.0.1:10249",
    // Zero leaves the host-wide conntrack sysctls alone.
    conntrack: {
      maxPerCore: 0,
      min: 0,
      tcpEstablishedTimeout: "0s",
      tcpCloseWaitTimeout: "0s",
      udpTimeout: "0s",
      udpStreamTimeout: "0s",
    },
  };
}

function localPathManifests(): string {
  const helperPod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "helper-pod" },
    spec: {
      priorityClassName: "system-node-critical",
      containers: [{ name: "helper-pod", image: BUSYBOX_IMAGE, imagePullPolicy: "Never" }],
    },
  };
  const docs = [
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "local-path-provisioner", namespace: "kube-system" },
    },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "local-path-config", namespace: "kube-system" },
      data: {
        "config.json": JSON.stringify({
          nodePathMap: [{ node: "DEFAULT_PATH_FOR_NON_LISTED_NODES", paths: [LOCAL_PATH] }],
        }),
        setup: '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n',
        teardown: '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n',
        "helperPod.yaml": stringify(helperPod),
      },
    },
    {
      apiVersion: "storage.k8s.io/v1",
      kind: "StorageClass",
      metadata: { name: LOCAL_PATH_CLASS, annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
      provisioner: `rancher.io/${LOCAL_PATH_CLASS}`,
      reclaimPolicy: "Delete",
      volumeBindingMode: "WaitForFirstConsumer",
    },
  ];
  return docs.map((d) => stringify(d)).join("---\n");
}

/** CoreDNS behind kube-dns:53, and the `kubernetes` endpoint. */
function systemManifests(): string {
  const corefile = `.:53 {
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
      ttl 5
    }
    cache 5
    loadbalance
}
`;
  const labels = { "k8s-app": "kube-dns" };
  const docs = [
    {
      apiVersion: "v1",
      kind: "Endpoints",
      metadata: {
        name: "kubernetes",
        namespace: "default",
        labels: { "endpointslice.kubernetes.io/skip-mirror": "true" },
      },
      subsets: [{ addresses: [{ ip: HUB_IP }], ports: [{ name: "https", port: HUB_API_PORT, protocol: "TCP" }] }],
    },
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "kubernetes", namespace: "default", labels: { "kubernetes.io/service-name": "kubernetes" } },
      addressType: "IPv4",
      endpoints: [{ addresses: [HUB_IP], conditions: { ready: true } }],
      ports: [{ name: "https", port: HUB_API_PORT, protocol: "TCP" }],
    },
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "coredns", namespace: "kube-system" } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "rqo-test:coredns" },
      rules: [
        { apiGroups: [""], resources: ["endpoints", "services", "pods", "namespaces"], verbs: ["list", "watch"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
      ],
    },
    ...["coredns"].map((n) => ({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: `rqo-test:${n}` },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: `rqo-test:${n}` },
      subjects: [{ kind: "ServiceAccount", name: n, namespace: "kube-system" }],
    })),
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "coredns", namespace: "kube-system" },
      data: { Corefile: corefile },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "coredns", namespace: "kube-system", labels },
      spec: {
        // Two on two nodes, as kubeadm and kind run it: a lost node takes no name lookup with it.
        replicas: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            // Spread by rule, not by preference: the Deployment is applied before the nodes are
            // Ready, and a preferred anti-affinity put both on the first node that was (seen when
            // a drain of that node evicted both). minDomains holds the second back until a second
            // node is there.
            topologySpreadConstraints: [
              {
                maxSkew: 1,
                minDomains: 2,
                topologyKey: "kubernetes.io/hostname",
                whenUnsatisfiable: "DoNotSchedule",
                labelSelector: { matchLabels: labels },
              },
            ],
            serviceAccountName: "coredns",
            priorityClassName: "system-cluster-critical",
            // Port 53 without root or a capability: the namespaced, safe sysctl. A NetworkPolicy
            // that allows DNS names port 53, which is what it sees after kube-proxy's DNAT.
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 65532,
              runAsGroup: 65532,
              sysctls: [{ name: "net.ipv4.ip_unprivileged_port_start", value: "53" }],
            },
            containers: [
              {
                name: "coredns",
                image: "registry.k8s.io/coredns/coredns:v1.12.4",
                imagePullPolicy: "Never",
                args: ["-conf", "/etc/coredns/Corefile"],
                ports: [
                  { name: "dns", containerPort: 53, protocol: "UDP" },
                  { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
                ],
                readinessProbe: { httpGet: { path: "/ready", port: 8181 }, periodSeconds: 2 },
                livenessProbe: { httpGet: { path: "/health", port: 8080 } },
                volumeMounts: [{ name: "config", mountPath: "/etc/coredns" }],
              },
            ],
            volumes: [{ name: "config", configMap: { name: "coredns" } }],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "kube-dns", namespace: "kube-system", labels },
      spec: {
        clusterIP: CLUSTER_DNS_IP,
        selector: labels,
        ports: [
          { name: "dns", port: 53, targetPort: 53, protocol: "UDP" },
          { name: "dns-tcp", port: 53, targetPort: 53, protocol: "TCP" },
        ],
      },
    },
  ];
  return docs.map((d) => stringify(d)).join("---\n");
}
