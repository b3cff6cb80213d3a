package tenant

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Features is the catalogue of feature switches a tenant can turn on or off.
var Features = []string{"support", "broadcasts", "surveys", "crm", "dispatch", "loyalty", "cabinet", "community"}

// Languages are the languages the platform ships texts for.
var Languages = []string{"ru", "en"}

// MaxTextLen is the longest text value accepted, in characters (Telegram's
// message limit).
const MaxTextLen = 4096

// IsFeature reports whether f is a known feature key.
func IsFeature(f string) bool { return slices.Contains(Features, f) }

// IsLanguage reports whether l is a supported language.
func IsLanguage(l string) bool { return slices.Contains(Languages, l) }

// TextSpec describes one text key of the catalogue.
type TextSpec struct {
	Key          string   `json:"key"`
	Description  string   `json:"description"`
	Placeholders []string `json:"placeholders"`
}

// Catalog is the platform-wide set of bot texts: keys, allowed placeholders
// and the ru/en defaults shipped in tenants/defaults. It is read-only after
// loading.
type Catalog struct {
	specs    map[string]TextSpec
	keys     []string
	defaults map[string]map[string]string // lang -> key -> value
}

// LoadCatalog reads defaults/catalog.yaml and defaults/texts.<lang>.yaml
// from fsys and checks that every key has a default in every language, that
// no default names an unknown key and that every placeholder is declared.
func LoadCatalog(fsys fs.FS) (*Catalog, error) {
	raw, err := fs.ReadFile(fsys, "defaults/catalog.yaml")
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	var specs map[string]struct {
		Description  string   `yaml:"description"`
		Placeholders []string `yaml:"placeholders"`
	}
	if err := yaml.Unmarshal(raw, &specs); err != nil {
		return nil, fmt.Errorf("catalog: defaults/catalog.yaml: %w", err)
	}
	c := &Catalog{specs: map[string]TextSpec{}, defaults: map[string]map[string]string{}}
	for k, s := range specs {
		if !textKeyRe.MatchString(k) {
			return nil, fmt.Errorf("catalog: key %q: must match %s", k, textKeyRe)
		}
		c.specs[k] = TextSpec{Key: k, Description: s.Description, Placeholders: append([]string{}, s.Placeholders...)}
		c.keys = append(c.keys, k)
	}
	sort.Strings(c.keys)
	for _, lang := range Languages {
		name := "defaults/texts." + lang + ".yaml"
		texts, err := readTexts(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		if err := c.CheckTexts(name, texts); err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		for _, k := range c.keys {
			if _, ok := texts[k]; !ok {
				return nil, fmt.Errorf("catalog: %s: key %q has no default", name, k)
			}
		}
		c.defaults[lang] = texts
	}
	return c, nil
}

// readTexts parses a flat YAML map of key -> text.
func readTexts(fsys fs.FS, name string) (map[string]string, error) {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	texts := map[string]string{}
	if err := yaml.Unmarshal(raw, &texts); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return texts, nil
}

var (
	textKeyRe     = regexp.MustCompile(`^[a-z0-9_.]{1,100}$`)
	placeholderRe = regexp.MustCompile(`\{([a-z_][a-z0-9_]*)\}`)
)

// Keys returns every key, sorted.
func (c *Catalog) Keys() []string { return c.keys }

// Spec returns a key's description and placeholders.
func (c *Catalog) Spec(key string) (TextSpec, bool) {
	s, ok := c.specs[key]
	return s, ok
}

// Default returns the platform default of key in lang.
func (c *Catalog) Default(key, lang string) (string, bool) {
	v, ok := c.defaults[lang][key]
	return v, ok
}

// CheckTexts validates a set of texts (a template's or defaults file), naming
// the file and key in the error.
func (c *Catalog) CheckTexts(file string, texts map[string]string) error {
	keys := make([]string, 0, len(texts))
	for k := range texts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := c.CheckText(k, texts[k]); err != nil {
			return fmt.Errorf("%s: %s: %w", file, k, err)
		}
	}
	return nil
}

// CheckText validates one value for key: the key exists, the value is not
// blank, not longer than MaxTextLen and uses only the key's placeholders.
func (c *Catalog) CheckText(key, value string) error {
	spec, ok := c.specs[key]
	if !ok {
		return &InvalidError{Code: CodeUnknownTextKey, Detail: fmt.Sprintf("%q is not a text key.", key),
			Fields: []FieldIssue{{Field: "key", Code: CodeUnknownTextKey, Message: "is not in the text catalogue"}}}
	}
	if strings.TrimSpace(value) == "" {
		return invalidField("value", "required", "must not be empty")
	}
	if utf8.RuneCountInString(value) > MaxTextLen {
		return invalidField("value", "too_long", fmt.Sprintf("must be at most %d characters", MaxTextLen))
	}
	for _, m := range placeholderRe.FindAllStringSubmatch(value, -1) {
		if !slices.Contains(spec.Placeholders, m[1]) {
			allowed := "none"
			if len(spec.Placeholders) > 0 {
				allowed = "{" + strings.Join(spec.Placeholders, "}, {") + "}"
			}
			return &InvalidError{Code: CodeUnknownPlaceholder,
				Detail: fmt.Sprintf("{%s} is not a placeholder of %q (allowed: %s).", m[1], key, allowed),
				Fields: []FieldIssue{{Field: "value", Code: CodeUnknownPlaceholder, Message: "{" + m[1] + "} is not allowed; allowed: " + allowed}}}
		}
	}
	return nil
}

// render substitutes {name} with vars[name]. A declared placeholder with no
// value becomes empty (a person should never see "{first_name}"); anything
// else in braces is left as written.
func render(text string, allowed []string, vars map[string]string) string {
	if !strings.Contains(text, "{") {
		return text
	}
	return placeholderRe.ReplaceAllStringFunc(text, func(m string) string {
		name := m[1 : len(m)-1]
		if v, ok := vars[name]; ok {
			return v
		}
		if slices.Contains(allowed, name) {
			return ""
		}
		return m
	})
}

// NormalizeLanguage maps a Telegram language_code ("ru-RU", "en", "uk") to
// one of the tenant's languages, or the tenant's default language.
func NormalizeLanguage(code string, languages []string, def string) string {
	code = strings.ToLower(strings.TrimSpace(code))
	if i := strings.IndexAny(code, "-_"); i >= 0 {
		code = code[:i]
	}
	if code != "" && slices.Contains(languages, code) {
		return code
	}
	return def
}
