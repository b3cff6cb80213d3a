// Package tenants ships the declarative tenant templates (one folder per
// vertical: tenant.yaml and texts per language), the platform-wide text
// catalogue and defaults in defaults/, and the JSON Schema that tenant.yaml
// files must satisfy. `helpdesk tenant apply` reads them; the demo and the
// end-to-end tests use them.
package tenants

import "embed"

// FS holds schema.json, defaults/ and every template folder.
//
//go:embed schema.json defaults/*.yaml */tenant.yaml */texts.*.yaml
var FS embed.FS

// Templates lists the shipped template folders.
var Templates = []string{"support-desk", "courier-dispatch", "beauty-clinic", "vending-loyalty", "alumni-club"}
