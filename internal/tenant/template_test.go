package tenant_test

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tgdesk/helpdesk/internal/tenant"
	"github.com/tgdesk/helpdesk/tenants"
)

func loadDeps(t *testing.T) (*tenant.Schema, *tenant.Catalog) {
	t.Helper()
	schema, err := tenant.LoadSchema()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := tenant.LoadCatalog(tenants.FS)
	if err != nil {
		t.Fatal(err)
	}
	return schema, cat
}

func TestShippedTemplatesAreValid(t *testing.T) {
	schema, cat := loadDeps(t)
	dirs, _ := fs.Glob(tenants.FS, "*/tenant.yaml")
	if len(dirs) != len(tenants.Templates) {
		t.Fatalf("found %v, want one tenant.yaml per template %v", dirs, tenants.Templates)
	}
	for _, name := range tenants.Templates {
		t.Run(name, func(t *testing.T) {
			tpl, err := tenant.LoadTemplate(tenants.FS, name, schema, cat)
			if err != nil {
				t.Fatal(err)
			}
			if tpl.Slug != name || tpl.Name != name {
				t.Errorf("slug %q, name %q: want both %q", tpl.Slug, tpl.Name, name)
			}
			if tpl.Owner == nil || tpl.Owner.Email == "" {
				t.Error("no demo owner")
			}
			for _, lang := range tpl.Languages {
				if len(tpl.Commands[lang]) == 0 {
					t.Errorf("no commands in %s", lang)
				}
				if len(tpl.Texts[lang]) == 0 {
					t.Errorf("no texts.%s.yaml overrides", lang)
				}
			}
		})
	}
}

func TestTemplatesCarryTheSeedsNeeds(t *testing.T) {
	schema, cat := loadDeps(t)
	clinic, err := tenant.LoadTemplate(tenants.FS, "beauty-clinic", schema, cat)
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, c := range clinic.Commands["en"] {
		cmds = append(cmds, c.Description)
	}
	for _, want := range []string{"Start", "Help", "Settings", "My links", "My balance", "My visits", "Call me back"} {
		if !slices.Contains(cmds, want) {
			t.Errorf("beauty-clinic commands %v lack %q", cmds, want)
		}
	}
	if !clinic.Features["cabinet"] || !clinic.Features["crm"] {
		t.Errorf("beauty-clinic features %v", clinic.Features)
	}
	desk, err := tenant.LoadTemplate(tenants.FS, "support-desk", schema, cat)
	if err != nil {
		t.Fatal(err)
	}
	if len(desk.Support.RequestTypes) < 2 || desk.Support.StatusIcons["new"] != "❗️" ||
		desk.Support.StatusIcons["in_work"] != "📝" || desk.Support.StatusIcons["resolved"] != "🏁" {
		t.Errorf("support-desk support config %+v", desk.Support)
	}
}

const goodYAML = `slug: demo-x
name: Demo
timezone: Europe/Moscow
languages: [ru, en]
default_language: ru
features: {support: true}
owner: {email: a@b.example, name: A, password: long-enough}
commands:
  ru: [{command: start, description: Старт}]
`

func TestInvalidTemplatesAreRefusedNamingTheField(t *testing.T) {
	schema, cat := loadDeps(t)
	tests := []struct {
		name  string
		yaml  string
		texts string // texts.ru.yaml
		want  []string
	}{
		{"valid", goodYAML, "help: Hi\n", nil},
		{"reserved sections are accepted", goodYAML + "bots: [{name: main}]\ncrm: {provider: amocrm}\nx-note: hi\n", "", nil},
		{"unknown feature", strings.Replace(goodYAML, "{support: true}", "{support: true, chat: true}", 1), "",
			[]string{"/features", "chat"}},
		{"feature not boolean", strings.Replace(goodYAML, "{support: true}", "{support: yes-please}", 1), "",
			[]string{"/features/support"}},
		{"bad time zone", strings.Replace(goodYAML, "Europe/Moscow", "Mars/Olympus", 1), "",
			[]string{"/timezone", "Mars/Olympus"}},
		{"unsupported language", strings.Replace(goodYAML, "[ru, en]", "[ru, de]", 1), "",
			[]string{"/languages/1"}},
		{"default language not among languages", strings.Replace(goodYAML, "[ru, en]", "[en]", 1), "",
			[]string{"/default_language"}},
		{"bad slug", strings.Replace(goodYAML, "demo-x", "Demo X", 1), "", []string{"/slug"}},
		{"missing name", strings.Replace(goodYAML, "name: Demo\n", "", 1), "", []string{"name"}},
		{"bad owner email", strings.Replace(goodYAML, "a@b.example", "not-an-email", 1), "", []string{"/owner/email"}},
		{"bad command", strings.Replace(goodYAML, "command: start", "command: Start!", 1), "",
			[]string{"/commands/ru/0/command"}},
		{"unknown top-level section", goodYAML + "colour: blue\n", "", []string{"colour"}},
		{"unknown text key", goodYAML, "no.such.key: x\n", []string{"texts.ru.yaml", "no.such.key"}},
		{"unknown placeholder in text", goodYAML, "help: Hi {first_name}\n", []string{"texts.ru.yaml", "help", "{first_name}"}},
		{"not YAML", "slug: [\n", "", []string{"not valid YAML"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"demo/tenant.yaml": {Data: []byte(tc.yaml)}}
			if tc.texts != "" {
				fsys["demo/texts.ru.yaml"] = &fstest.MapFile{Data: []byte(tc.texts)}
			}
			_, err := tenant.LoadTemplate(fsys, "demo", schema, cat)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted an invalid template")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}
