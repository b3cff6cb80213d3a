// Package frontend embeds the admin console built by Vite into frontend/dist.
// Without a build (no Node on the machine) dist holds only .keep and the
// platform serves a short page saying how to build the console.
package frontend

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Dist returns the built console, or nil when it was not built.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return nil
	}
	return sub
}
