// Package migrations embeds the numbered SQL migrations applied by
// `helpdesk migrate` (goose format: -- +goose Up / -- +goose Down).
package migrations

import "embed"

// FS holds every *.sql migration.
//
//go:embed *.sql
var FS embed.FS
