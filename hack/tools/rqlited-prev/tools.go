//go:build tools

// Package tools pins the rqlited main package so `go mod tidy` keeps its dependencies.
package tools

import _ "github.com/rqlite/rqlite/v8/cmd/rqlited"
