//go:build tools

// Package tools pins the kube-network-policies (the NetworkPolicy enforcer) main package so `go mod tidy` keeps its dependencies.
package tools

import _ "sigs.k8s.io/kube-network-policies/cmd"
