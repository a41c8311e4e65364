// Completion candidates for a partly typed command line, from the command tree itself (commands,
// flags, choices) and the cluster (RqCluster names, namespaces). Printed in cobra's format: one
// candidate a line, then ":4" (no file completion), which kubectl reads from a plugin's
// kubectl_complete-rqlite and the scripts of `completion bash|zsh` read the same way.
import { KubeConfig } from "@kubernetes/client-node";
import type { Command, Option } from "commander";
import { API_VERSION, PLURAL } from "../shared/names.js";
import { objectPath } from "../controller/runtime/paths.js";
import { Kube, type ConnectionFlags } from "./kube.js";

export const NO_FILE_COMPLETION = ":4";

/** Candidates for the last of `words` (the word being typed, maybe empty). */
export async function complete(program: Command, words: string[]): Promise<string[]> {
  const typed = words.at(-1) ?? "";
  const before = words.slice(0, -1);
  const flags = connectionFlags(before);
  const sub = program.commands.find((c) => before.includes(c.name()));
  const options = [...program.options, ...(sub?.options ?? [])];
  const previous = before.at(-1);
  const pending = previous?.startsWith("-")
    ? options.find((o) => o.short === previous || o.long === previous)
    : undefined;
  let candidates: string[];
  if (pending?.required || pending?.optional) candidates = await optionValues(pending, flags);
  else if (typed.startsWith("-"))
    candidates = options.flatMap((o) => [o.long, o.short]).filter((f): f is string => !!f);
  else if (!sub) candidates = program.commands.filter((c) => !hidden(c)).map((c) => c.name());
  else if (takesCluster(sub) && positionals(before.slice(before.indexOf(sub.name()) + 1), options).length === 0)
    candidates = await clusterNames(flags);
  else if (sub.name() === "completion") candidates = ["bash", "zsh"];
  else candidates = [];
  return candidates.filter((c) => c.startsWith(typed));
}

const hidden = (c: Command) => (c as unknown as { _hidden?: boolean })._hidden === true;
const takesCluster = (c: Command) => c.registeredArguments[0]?.name() === "cluster";

/** Words that are not flags nor flag values. */
function positionals(words: string[], options: readonly Option[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (!w.startsWith("-")) out.push(w);
    else if (!w.includes("=") && options.find((o) => o.short === w || o.long === w)?.required) i++;
  }
  return out;
}

function connectionFlags(words: string[]): ConnectionFlags {
  const value = (...names: string[]) => {
    const i = words.findIndex((w) => names.includes(w));
    return i >= 0 ? words[i + 1] : words.find((w) => names.some((n) => w.startsWith(`${n}=`)))?.split("=")[1];
  };
  const kubeconfig = value("--kubeconfig");
  const context = value("--context");
  const namespace = value("-n", "--namespace");
  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    ...(context ? { context } : {}),
    ...(namespace ? { namespace } : {}),
  };
}

async function optionValues(option: Option, flags: ConnectionFlags): Promise<string[]> {
  if (option.argChoices) return option.argChoices;
  if (option.long === "--namespace") return names(flags, objectPath({ apiVersion: "v1", resource: "namespaces" }));
  if (option.long === "--context") {
    const kc = new KubeConfig();
    if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
    else kc.loadFromDefault();
    return kc.getContexts().map((c) => c.name);
  }
  return [];
}

function clusterNames(flags: ConnectionFlags): Promise<string[]> {
  return names(flags, (namespace) => objectPath({ apiVersion: API_VERSION, resource: PLURAL, namespace }));
}

/** Object names from a list; nothing when the cluster cannot say (completion never fails loudly). */
async function names(flags: ConnectionFlags, path: string | ((namespace: string) => string)): Promise<string[]> {
  try {
    const kube = Kube.connect(flags);
    const list = await kube.request<{ items: Array<{ metadata: { name: string } }> }>("list", {
      method: "GET",
      path: typeof path === "string" ? path : path(kube.namespace),
      timeoutMs: 5000,
    });
    return list.items.map((i) => i.metadata.name);
  } catch {
    return [];
  }
}
