// Wrapper module: the real-cluster nodes' Pod sandbox program, main.go (see hack/build-binaries.sh).
module rqlite-operator/tools/pause

go 1.24.0
