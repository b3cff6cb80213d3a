package app_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// docs/openapi.yaml describes exactly the routes the app serves: every API,
// operator and webhook route with each of its methods, and nothing more.
func TestOpenAPIMatchesRouteTable(t *testing.T) {
	raw, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "post", "put", "patch", "delete":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	p := newPlatform(t)
	served := map[string]bool{}
	for _, r := range p.HTTP.GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" {
			continue
		}
		if !(strings.HasPrefix(r.Path, "/api/v1/") || strings.HasPrefix(r.Path, "/ops/") || strings.HasPrefix(r.Path, "/tg/") ||
			strings.HasPrefix(r.Path, "/hooks/") || r.Path == "/healthz" || r.Path == "/readyz") {
			continue
		}
		key := r.Method + " " + param.ReplaceAllString(r.Path, "{$1}")
		served[key] = true
		if !documented[key] {
			t.Errorf("%s is served but not in docs/openapi.yaml", key)
		}
	}
	for key := range documented {
		if !served[key] {
			t.Errorf("docs/openapi.yaml describes %s, which the app does not serve", key)
		}
	}
}
