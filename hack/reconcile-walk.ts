// The walk of one RqCluster reconcile through the code, as a reader following it would take it:
// from the RqCluster controller's `reconcile`, every call into a function of the repository in
// source order (arguments before the call, callbacks where they are written), each function's
// body walked at its first call only. A stop is each arrival in a file other than the one just
// left, calls and returns alike; a return is a stop in a file the walk had already been in.
// Static, so every branch is taken and the figures are the same on every run and machine.
//
//   npx tsx hack/reconcile-walk.ts [ROOT]      ROOT: a checkout (default: this one), so a
//                                              worktree of another commit can be walked as it is
import { join, relative, resolve } from "node:path";
import ts from "typescript";

const root = resolve(process.argv[2] ?? new URL("..", import.meta.url).pathname);
const entryFile = join(root, "controller/rqcluster/controller.ts");
const config = ts.getParsedCommandLineOfConfigFile(
  join(root, "tsconfig.json"),
  {},
  {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    },
  },
);
if (!config) throw new Error(`no tsconfig.json in ${root}`);
const program = ts.createProgram([entryFile], config.options);
const checker = program.getTypeChecker();

const inRepository = (sf: ts.SourceFile) =>
  !sf.isDeclarationFile && sf.fileName.startsWith(`${root}/`) && !sf.fileName.includes("/node_modules/");

interface Stop {
  file: string;
  fn: string;
  depth: number;
  return: boolean;
}
const stops: Stop[] = [];
/** Stops made inside each function's (first) walk, its own arrival included. */
const inside = new Map<string, number>();
const walked = new Set<ts.Node>();
let here: string | undefined;

function arrive(file: string, fn: string, depth: number): void {
  if (file === here) return;
  stops.push({ file, fn, depth, return: stops.some((s) => s.file === file) });
  here = file;
}

interface Where {
  file: string;
  fn: string;
  depth: number;
}

type FunctionLike = ts.FunctionLikeDeclaration;

/** The function a call reaches, when its declaration is in the repository. */
function callee(expr: ts.Expression): { decl: ts.Declaration; body?: FunctionLike } | undefined {
  const at = ts.isPropertyAccessExpression(expr) ? expr.name : expr;
  let symbol = checker.getSymbolAtLocation(at);
  if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
  const decl = symbol?.valueDeclaration ?? symbol?.declarations?.[0];
  if (!decl || !inRepository(decl.getSourceFile())) return undefined;
  if (ts.isFunctionDeclaration(decl) || ts.isMethodDeclaration(decl) || ts.isFunctionExpression(decl)) {
    return { decl, body: decl };
  }
  if (ts.isVariableDeclaration(decl) || ts.isPropertyAssignment(decl)) {
    const init = decl.initializer;
    if (init && (ts.isArrowFunction(init) || ts.isFunctionExpression(init))) return { decl, body: init };
    return undefined;
  }
  if (ts.isClassDeclaration(decl)) {
    const ctor = decl.members.find(ts.isConstructorDeclaration);
    return ctor ? { decl, body: ctor } : { decl };
  }
  // A method or function-valued field of an interface: the reader goes to its declaration, and
  // what is behind it (an injected dependency) is not known statically.
  if (ts.isMethodSignature(decl) || ts.isPropertySignature(decl)) return { decl };
  return undefined;
}

function nameOf(decl: ts.Declaration): string {
  const name = ts.getNameOfDeclaration(decl);
  const own = name ? name.getText() : "(anonymous)";
  const parent = decl.parent;
  if (ts.isClassLike(parent) || ts.isInterfaceDeclaration(parent)) return `${parent.name?.getText() ?? ""}.${own}`;
  return own;
}

function call(expr: ts.Expression, from: Where): void {
  const target = callee(expr);
  if (!target) return;
  const file = relative(root, target.decl.getSourceFile().fileName);
  const fn = nameOf(target.decl);
  const before = stops.length;
  arrive(file, fn, from.depth + 1);
  if (target.body?.body && !walked.has(target.decl)) {
    walked.add(target.decl);
    visit(target.body.body, { file, fn, depth: from.depth + 1 });
    inside.set(`${fn} (${file})`, stops.length - before);
  }
  arrive(from.file, from.fn, from.depth);
}

function visit(node: ts.Node, at: Where): void {
  if (ts.isCallExpression(node) || ts.isNewExpression(node)) {
    for (const arg of node.arguments ?? []) visit(arg, at);
    // What the callee is reached through (a.b().c(): a.b() first).
    const expr = node.expression;
    if (ts.isPropertyAccessExpression(expr) || ts.isElementAccessExpression(expr)) visit(expr.expression, at);
    else if (!ts.isIdentifier(expr)) visit(expr, at);
    call(expr, at);
    return;
  }
  // Declared here, run only when called.
  if (ts.isFunctionDeclaration(node) || ts.isClassDeclaration(node) || ts.isInterfaceDeclaration(node)) return;
  if (ts.isTypeAliasDeclaration(node) || ts.isTypeNode(node)) return;
  ts.forEachChild(node, (child) => visit(child, at));
}

const entrySource = program.getSourceFile(entryFile);
if (!entrySource) throw new Error(`${entryFile} is not in the program`);
let entry: ts.MethodDeclaration | undefined;
const find = (node: ts.Node): void => {
  if (!entry && ts.isMethodDeclaration(node) && node.name.getText() === "reconcile") entry = node;
  ts.forEachChild(node, find);
};
find(entrySource);
if (!entry?.body) throw new Error(`no reconcile method in ${entryFile}`);
const start = { file: relative(root, entryFile), fn: "reconcile", depth: 0 };
arrive(start.file, start.fn, 0);
visit(entry.body, start);

for (const [i, s] of stops.entries()) {
  console.log(`${String(i + 1).padStart(4)} ${"  ".repeat(s.depth)}${s.file} ${s.fn}${s.return ? "  (again)" : ""}`);
}
const returns = stops.filter((s) => s.return).length;
const files = new Set(stops.map((s) => s.file)).size;
const pct = (n: number) => `${Math.round((100 * n) / stops.length)}%`;
console.log(
  `\nstops: ${stops.length} across ${files} files; returns to a file already left: ${returns} (${pct(returns)})`,
);
console.log("largest parts of the trip (stops made inside one function's first walk):");
for (const [fn, n] of [...inside].sort((a, b) => b[1] - a[1]).slice(0, 8)) {
  console.log(`  ${String(n).padStart(4)} (${pct(n)})  ${fn}`);
}
