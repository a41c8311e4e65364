// Wrapper module: pins prometheus-operator v0.85.0, whose example/prometheus-operator-crd holds the
// ServiceMonitor and PrometheusRule CRDs the monitoring overlay needs in the install tests. Nothing
// is built from it (see hack/build-binaries.sh); `go mod tidy` would drop the unused requirement,
// so go.sum is kept by `go mod download github.com/prometheus-operator/prometheus-operator`.
module rqlite-operator/tools/prometheus-operator

go 1.26.0

require github.com/prometheus-operator/prometheus-operator v0.85.0
