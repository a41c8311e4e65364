// Wrapper module: runs Argo CD health scripts with Argo CD's Lua interpreter (see hack/build-binaries.sh).
module rqlite-operator/tools/argocd-lua

go 1.24.0

require github.com/yuin/gopher-lua v1.1.1
