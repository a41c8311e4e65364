//go:build tools

// Package tools pins the Rancher's local-path-provisioner (the volume provisioner) main package so `go mod tidy` keeps its dependencies.
package tools

import _ "github.com/rancher/local-path-provisioner"
