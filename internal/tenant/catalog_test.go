package tenant_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tgdesk/helpdesk/internal/tenant"
	"github.com/tgdesk/helpdesk/tenants"
)

func TestShippedCatalogIsComplete(t *testing.T) {
	cat, err := tenant.LoadCatalog(tenants.FS)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cat.Keys()); n < 60 {
		t.Fatalf("catalogue has %d keys, want the whole platform's texts", n)
	}
	for _, k := range []string{"start.greeting", "help", "cancel.done", "dialog.timeout", "command.unknown",
		"error.generic", "content.unsupported", "content.blocked", "subscription.menu", "phone.request"} {
		for _, lang := range tenant.Languages {
			if v, ok := cat.Default(k, lang); !ok || v == "" {
				t.Errorf("%s has no %s default", k, lang)
			}
		}
	}
	if v, _ := cat.Default("error.generic", "en"); !strings.Contains(v, "we are on it") {
		t.Errorf("error.generic en = %q", v)
	}
}

func TestCatalogRefusesBrokenDefaults(t *testing.T) {
	const catalog = "a.b: {description: x, placeholders: [name]}\n"
	tests := []struct {
		name, ru, en, want string
	}{
		{"missing en default", "a.b: Привет, {name}\n", "{}\n", `texts.en.yaml: key "a.b" has no default`},
		{"unknown placeholder", "a.b: Привет, {nick}\n", "a.b: Hi\n", "{nick} is not a placeholder"},
		{"unknown key", "a.b: x\nc.d: y\n", "a.b: Hi\n", `"c.d" is not a text key`},
		{"empty value", "a.b: \"  \"\n", "a.b: Hi\n", "must not be empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"defaults/catalog.yaml":  {Data: []byte(catalog)},
				"defaults/texts.ru.yaml": {Data: []byte(tc.ru)},
				"defaults/texts.en.yaml": {Data: []byte(tc.en)},
			}
			_, err := tenant.LoadCatalog(fsys)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCheckText(t *testing.T) {
	cat, err := tenant.LoadCatalog(tenants.FS)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, key, value, code, field string
	}{
		{"ok with placeholders", "start.greeting", "Hi {first_name} from {tenant_name}", "", ""},
		{"literal braces that are not placeholders", "help", "Use {} or { x } freely", "", ""},
		{"unknown key", "no.such.key", "x", tenant.CodeUnknownTextKey, "key"},
		{"unknown placeholder", "start.greeting", "Hi {phone}", tenant.CodeUnknownPlaceholder, "value"},
		{"placeholder of another key", "cancel.done", "Bye {first_name}", tenant.CodeUnknownPlaceholder, "value"},
		{"empty", "help", "", tenant.CodeValidation, "value"},
		{"blank", "help", " \n ", tenant.CodeValidation, "value"},
		{"too long", "help", strings.Repeat("я", tenant.MaxTextLen+1), tenant.CodeValidation, "value"},
		{"exactly the limit", "help", strings.Repeat("я", tenant.MaxTextLen), "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := cat.CheckText(tc.key, tc.value)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			mustInvalid(t, err, tc.code, tc.field)
		})
	}
}

func TestNormalizeLanguage(t *testing.T) {
	both := []string{"ru", "en"}
	tests := []struct {
		name, code string
		langs      []string
		def, want  string
	}{
		{"region suffix", "ru-RU", both, "en", "ru"},
		{"plain", "en", both, "ru", "en"},
		{"upper case and underscore", "EN_us", both, "ru", "en"},
		{"unknown language", "uk", both, "ru", "ru"},
		{"empty", "", both, "en", "en"},
		{"supported but not enabled for tenant", "en", []string{"ru"}, "ru", "ru"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tenant.NormalizeLanguage(tc.code, tc.langs, tc.def); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
