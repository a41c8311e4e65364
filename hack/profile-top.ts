// Summarises the V8 profiles bench/controller.ts writes with --cpu-prof and --heap-prof, as the
// top entries a person would read off DevTools:
//
//   tsx hack/profile-top.ts FILE.cpuprofile [--top 10] [--from S] [--to S] [--last S]
//       self time by function, over the whole profile or a window of it (seconds from its start;
//       --last: the final S seconds, e.g. the idle minute before the controller stopped)
//   tsx hack/profile-top.ts FILE.heapprofile [--top 10]
//       live bytes at exit by the function that allocated them (sampling heap profile)
//   tsx hack/profile-top.ts FILE.heapsnapshot [--top 10]
//       bytes by constructor: shallow (the objects themselves) and retained (what would be freed
//       with them, from the dominator tree), as DevTools' summary view
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

const where = (f: CallFrame) => {
  const file = f.url.replace(/^file:\/\//, "").replace(/^.*\/node_modules\//, "~/");
  const short = file.replace(/^.*\/(controller|shared|testenv)\//, "$1/");
  return `${f.functionName || "(anonymous)"} ${short ? `${short}:${f.lineNumber + 1}` : ""}`.trim();
};

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

function printTop(title: string, rows: Array<[string, ...Array<string | number>]>, top: number): void {
  console.log(title);
  for (const [name, ...cols] of rows.slice(0, top))
    console.log(`  ${cols.map((c) => String(c).padStart(10)).join(" ")}  ${name}`);
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: CallFrame; children?: number[] }>;
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function cpuTop(p: CpuProfile, top: number, window: { from?: number; to?: number; last?: number }): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const totalS = (p.endTime - p.startTime) / 1e6;
  const from = window.last !== undefined ? totalS - window.last : (window.from ?? 0);
  const to = window.to ?? totalS;
  const self = new Map<string, number>();
  let t = 0;
  let inWindow = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    const at = t / 1e6;
    if (at < from || at > to) continue;
    const node = byId.get(p.samples[i]!)!;
    const name = where(node.callFrame);
    // The next delta is how long this sample stood for.
    const weight = (p.timeDeltas[i + 1] ?? dt) / 1e6;
    self.set(name, (self.get(name) ?? 0) + weight);
    inWindow += weight;
  }
  const busy = [...self].filter(([n]) => !n.startsWith("(idle)")).reduce((a, [, s]) => a + s, 0);
  const rows = [...self]
    .filter(([n]) => !n.startsWith("(idle)"))
    .sort((a, b) => b[1] - a[1])
    .map(([n, s]): [string, string, string] => [n, `${s.toFixed(2)} s`, `${((s / busy) * 100).toFixed(1)} %`]);
  printTop(
    `CPU, ${from.toFixed(0)}-${to.toFixed(0)} s of ${totalS.toFixed(0)} s: ${busy.toFixed(2)} s busy of ${inWindow.toFixed(1)} s sampled; self time by function`,
    rows,
    top,
  );
}

interface HeapProfileNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapProfileNode[];
}

function heapProfileTop(p: { head: HeapProfileNode }, top: number): void {
  const self = new Map<string, number>();
  let total = 0;
  const walk = (n: HeapProfileNode) => {
    if (n.selfSize) {
      const name = where(n.callFrame);
      self.set(name, (self.get(name) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    n.children.forEach(walk);
  };
  walk(p.head);
  const rows = [...self]
    .sort((a, b) => b[1] - a[1])
    .map(([n, s]): [string, string, string] => [n, mb(s), `${((s / total) * 100).toFixed(1)} %`]);
  printTop(`live at exit (sampled): ${mb(total)}; by allocating function`, rows, top);
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Shallow and retained size per constructor; dominators by Cooper, Harvey and Kennedy's iteration. */
function snapshotTop(s: HeapSnapshot, top: number): void {
  const nf = s.snapshot.meta.node_fields;
  const ef = s.snapshot.meta.edge_fields;
  const N = nf.length;
  const E = ef.length;
  const [fType, fName, fSize, fEdges] = ["type", "name", "self_size", "edge_count"].map((f) => nf.indexOf(f)) as [
    number,
    number,
    number,
    number,
  ];
  const [eType, eTo] = ["type", "to_node"].map((f) => ef.indexOf(f)) as [number, number];
  const nodeTypes = s.snapshot.meta.node_types[0];
  const edgeTypes = s.snapshot.meta.edge_types[0];
  const weak = edgeTypes.indexOf("weak");
  const count = s.nodes.length / N;
  const label = (i: number) => {
    const type = nodeTypes[s.nodes[i * N + fType]!]!;
    const name = s.strings[s.nodes[i * N + fName]!]!;
    return type === "object" || type === "closure" ? name : `(${type})`;
  };
  // Children and predecessors (weak edges do not retain).
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) firstEdge[i + 1] = firstEdge[i]! + s.nodes[i * N + fEdges]!;
  const preds: number[][] = Array.from({ length: count }, () => []);
  for (let i = 0; i < count; i++) {
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e++) {
      if (s.edges[e * E + eType] === weak) continue;
      preds[s.edges[e * E + eTo]! / N]!.push(i);
    }
  }
  // Reverse postorder from the root (node 0), then Cooper-Harvey-Kennedy iterations.
  const order: number[] = [];
  const seen = new Uint8Array(count);
  const stack: Array<[number, number]> = [[0, firstEdge[0]!]];
  seen[0] = 1;
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [n, e] = top;
    if (e < firstEdge[n + 1]!) {
      top[1]++;
      if (s.edges[e * E + eType] === weak) continue;
      const to = s.edges[e * E + eTo]! / N;
      if (!seen[to]) {
        seen[to] = 1;
        stack.push([to, firstEdge[to]!]);
      }
    } else {
      order.push(n);
      stack.pop();
    }
  }
  order.reverse();
  const rpo = new Int32Array(count).fill(-1);
  order.forEach((n, i) => (rpo[n] = i));
  const idom = new Int32Array(count).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (rpo[a]! > rpo[b]!) a = idom[a]!;
      while (rpo[b]! > rpo[a]!) b = idom[b]!;
    }
    return a;
  };
  for (let changed = true; changed;) {
    changed = false;
    for (const n of order) {
      if (n === 0) continue;
      let d = -1;
      for (const p of preds[n]!) {
        if (rpo[p] === -1 || idom[p] === -1) continue;
        d = d === -1 ? p : intersect(p, d);
      }
      if (d !== -1 && idom[n] !== d) {
        idom[n] = d;
        changed = true;
      }
    }
  }
  const retained = new Float64Array(count);
  for (let i = 0; i < count; i++) retained[i] = s.nodes[i * N + fSize]!;
  for (let k = order.length - 1; k > 0; k--) {
    const n = order[k]!;
    if (idom[n]! >= 0 && idom[n] !== n) retained[idom[n]!]! += retained[n]!;
  }
  // Per constructor: shallow sums every object; retained sums only the outermost objects of that
  // constructor (none of its kind above it in the dominator tree), so nested ones count once.
  // A walk of the dominator tree keeps how many of each constructor are on the current path.
  const kids: number[][] = Array.from({ length: count }, () => []);
  for (const n of order) if (n !== 0 && idom[n]! >= 0) kids[idom[n]!]!.push(n);
  const rows = new Map<string, { count: number; shallow: number; retained: number }>();
  const onPath = new Map<string, number>();
  let total = 0;
  const walk: Array<[number, boolean]> = [[0, false]];
  while (walk.length) {
    const [n, leaving] = walk.pop()!;
    const name = label(n);
    if (leaving) {
      onPath.set(name, onPath.get(name)! - 1);
      continue;
    }
    const row = rows.get(name) ?? { count: 0, shallow: 0, retained: 0 };
    row.count++;
    row.shallow += s.nodes[n * N + fSize]!;
    if (!onPath.get(name)) row.retained += retained[n]!;
    rows.set(name, row);
    total += s.nodes[n * N + fSize]!;
    onPath.set(name, (onPath.get(name) ?? 0) + 1);
    walk.push([n, true], ...kids[n]!.map((k): [number, boolean] => [k, false]));
  }
  const sorted = (key: "shallow" | "retained") =>
    [...rows]
      .sort((a, b) => b[1][key] - a[1][key])
      .map(([n, r]): [string, string, string, string] => [n, String(r.count), mb(r.shallow), mb(r.retained)]);
  console.log(`heap snapshot: ${mb(total)} reachable in ${order.length} objects; columns: count, shallow, retained`);
  printTop("by shallow size", sorted("shallow"), top);
  printTop("by retained size", sorted("retained"), top);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: "string", default: "10" },
    from: { type: "string" },
    to: { type: "string" },
    last: { type: "string" },
  },
});
const top = Number(values.top);
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
for (const file of positionals) {
  console.log(`== ${file}`);
  const data: unknown = JSON.parse(await readFile(file, "utf8"));
  if (file.endsWith(".cpuprofile"))
    cpuTop(data as CpuProfile, top, { from: num(values.from), to: num(values.to), last: num(values.last) });
  else if (file.endsWith(".heapprofile")) heapProfileTop(data as { head: HeapProfileNode }, top);
  else if (file.endsWith(".heapsnapshot")) snapshotTop(data as HeapSnapshot, top);
  else throw new Error(`${file}: expected a .cpuprofile, .heapprofile or .heapsnapshot`);
}
