// `completion bash|zsh` prints a script that asks `kubectl-rqlite __complete` for candidates
// (main.ts answers it before parsing); kubectl asks the same through kubectl_complete-rqlite.
import { Argument, type Command } from "commander";
import { examples } from "./common.js";

const BASH = `# bash completion for kubectl-rqlite
_kubectl_rqlite() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" IFS=$'\\n'
  local out
  out=$(kubectl-rqlite __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
  COMPREPLY=($(compgen -W "$(printf '%s\\n' "$out" | grep -v '^:')" -- "$cur"))
}
complete -F _kubectl_rqlite kubectl-rqlite
`;

const ZSH = `#compdef kubectl-rqlite
# zsh completion for kubectl-rqlite
_kubectl_rqlite() {
  local -a candidates
  candidates=("\${(@f)$(kubectl-rqlite __complete "\${(@)words[2,CURRENT]}" 2>/dev/null | grep -v '^:')}")
  compadd -- "\${candidates[@]}"
}
if [ "$funcstack[1]" = "_kubectl_rqlite" ]; then _kubectl_rqlite "$@"; else compdef _kubectl_rqlite kubectl-rqlite; fi
`;

export function completionCommand(program: Command): void {
  const cmd = program
    .command("completion")
    .description("print a shell completion script")
    .addArgument(new Argument("<shell>", "the shell").choices(["bash", "zsh"]))
    .action((shell: string) => {
      process.stdout.write(shell === "bash" ? BASH : ZSH);
    });
  examples(cmd, [
    "source <(kubectl rqlite completion bash)",
    'kubectl rqlite completion zsh > "${fpath[1]}/_kubectl-rqlite"',
  ]);
}
