//go:build tools

// Pins the `weed` command so `go mod tidy` keeps its dependencies.
package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
