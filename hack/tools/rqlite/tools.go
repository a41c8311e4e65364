//go:build tools

// Package tools pins the rqlite shell's main package so `go mod tidy` keeps its dependencies.
package tools

import _ "github.com/rqlite/rqlite/v8/cmd/rqlite"
