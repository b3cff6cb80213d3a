package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes

func TestLoadDefaultsAndRequired(t *testing.T) {
	c, err := Load(env(map[string]string{"HELPDESK_SECRET_KEY": key, "HELPDESK_JWT_SECRET": strings.Repeat("j", 32)}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.AccessTTL.Minutes() != 15 || len(c.SecretKey) != 32 || c.WebhookMaxConns != 40 {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestLoadReportsEveryProblemByName(t *testing.T) {
	_, err := Load(env(map[string]string{
		"HELPDESK_SECRET_KEY":              "short",
		"HELPDESK_ACCESS_TTL":              "soon",
		"HELPDESK_WEBHOOK_MAX_CONNECTIONS": "500",
		"HELPDESK_PUBLIC_URL":              "ftp://x",
	}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, name := range []string{"HELPDESK_SECRET_KEY", "HELPDESK_JWT_SECRET is required", "HELPDESK_ACCESS_TTL", "HELPDESK_WEBHOOK_MAX_CONNECTIONS", "HELPDESK_PUBLIC_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestMigrateNeedsNoSecrets(t *testing.T) {
	if _, err := LoadWithoutSecrets(env(nil)); err != nil {
		t.Fatal(err)
	}
}

func TestConfigFileFillsGapsEnvironmentWins(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "helpdesk.env")
	body := "# comment\nHELPDESK_SECRET_KEY=" + key + "\nHELPDESK_JWT_SECRET=\"" + strings.Repeat("f", 40) + "\"\nHELPDESK_HTTP_ADDR=0.0.0.0:9\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{"HELPDESK_CONFIG": path, "HELPDESK_HTTP_ADDR": "127.0.0.1:7"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:7" || string(c.JWTSecret) != strings.Repeat("f", 40) {
		t.Fatalf("file/env precedence wrong: addr %s", c.HTTPAddr)
	}
}

// The README's configuration table must list every setting.
func TestReadmeListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Specs {
		if !strings.Contains(string(readme), "`"+s.Name+"`") {
			t.Errorf("README.md does not document %s", s.Name)
		}
	}
}
