package tenant

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/tgdesk/helpdesk/tenants"
)

// Command is one bot command shown in Telegram's menu (setMyCommands).
type Command struct {
	Command     string `json:"command"`
	Description string `json:"description"`
}

// RequestType is one entry of the support routing menu.
type RequestType struct {
	Key       string            `json:"key"`
	Title     map[string]string `json:"title"`
	AutoReply map[string]string `json:"auto_reply,omitempty"`
	Tag       string            `json:"tag,omitempty"`
	// StaffGroup, when set, is the staff group that takes this type first
	// (set in the console's routing editor; templates cannot know chat ids).
	StaffGroup *StaffGroupRef `json:"staff_group,omitempty"`
	// Assignee, when set, is the console user a ticket of this type is
	// assigned to when the person picks it.
	Assignee *uuid.UUID `json:"assignee_user_id,omitempty"`
}

// StaffGroupRef names a bound staff group: the bot and the group's chat.
type StaffGroupRef struct {
	BotID  int64 `json:"bot_id"`
	ChatID int64 `json:"chat_id"`
}

// WorkingHours are the support desk's hours in the tenant's time zone.
type WorkingHours struct {
	Days []string `json:"days"`
	From string   `json:"from"`
	To   string   `json:"to"`
}

// SupportConfig configures the support desk.
type SupportConfig struct {
	RequestTypes []RequestType     `json:"request_types,omitempty"`
	StatusIcons  map[string]string `json:"status_icons,omitempty"`
	WorkingHours *WorkingHours     `json:"working_hours,omitempty"`
	CSAT         bool              `json:"csat,omitempty"`
}

// Owner is a template's demo owner account.
type Owner struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

// Template is a parsed, validated tenant template folder.
type Template struct {
	// Name is the template's folder name (e.g. "beauty-clinic").
	Name            string                    `json:"-"`
	Slug            string                    `json:"slug"`
	TenantName      string                    `json:"name"`
	Description     string                    `json:"description"`
	Timezone        string                    `json:"timezone"`
	Languages       []string                  `json:"languages"`
	DefaultLanguage string                    `json:"default_language"`
	Features        map[string]bool           `json:"features"`
	Owner           *Owner                    `json:"owner"`
	Commands        map[string][]Command      `json:"commands"`
	Support         SupportConfig             `json:"support"`
	Settings        map[string]map[string]any `json:"settings"`
	// Texts are the template's text overrides: lang -> key -> value.
	Texts map[string]map[string]string `json:"-"`
	// Reserved lists the sections present but not yet applied (bots, crm,
	// rules...): later releases give them meaning.
	Reserved []string `json:"-"`
}

var reservedSections = []string{"bots", "crm", "rules", "surveys", "broadcasts", "sequences", "terminals", "chats"}

// Schema validates tenant.yaml documents against tenants/schema.json.
type Schema struct{ sch *jsonschema.Schema }

// LoadSchema compiles tenants/schema.json.
func LoadSchema() (*Schema, error) {
	raw, err := fs.ReadFile(tenants.FS, "schema.json")
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("schema: parse: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "https://docs.tgdesk.dev/schemas/tenant.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("schema: compile: %w", err)
	}
	return &Schema{sch: sch}, nil
}

// Validate checks a YAML document and returns an error naming every field
// at fault as a JSON pointer (e.g. "/features/chat: additional properties ...").
func (s *Schema) Validate(file string, yamlDoc []byte) (map[string]any, error) {
	var doc any
	if err := yaml.Unmarshal(yamlDoc, &doc); err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %w", file, err)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: must be a mapping of fields", file)
	}
	// Round-trip through JSON so the validator sees JSON types only.
	js, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := s.sch.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("%s: does not match tenants/schema.json:\n  %s", file, strings.Join(schemaIssues(ve), "\n  "))
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return m, nil
}

// schemaIssues flattens the error tree to "pointer: message" lines, leaves only.
func schemaIssues(ve *jsonschema.ValidationError) []string {
	p := message.NewPrinter(language.English)
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := "/" + strings.Join(e.InstanceLocation, "/")
			out = append(out, loc+": "+e.ErrorKind.LocalizedString(p))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.Strings(out)
	return out
}

// LoadTemplate reads dir/tenant.yaml and dir/texts.<lang>.yaml from fsys,
// validates them against the schema and the text catalogue, and checks what a
// schema cannot: the time zone loads, the default language is among the
// languages.
func LoadTemplate(fsys fs.FS, dir string, schema *Schema, cat *Catalog) (*Template, error) {
	file := path.Join(dir, "tenant.yaml")
	raw, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	doc, err := schema.Validate(file, raw)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	js, _ := json.Marshal(doc)
	t := &Template{}
	if err := json.Unmarshal(js, t); err != nil {
		return nil, fmt.Errorf("template: %s: %w", file, err)
	}
	t.Name = path.Base(path.Clean(dir))
	if t.Name == "." || t.Name == "/" {
		t.Name = t.Slug
	}
	for _, r := range reservedSections {
		if _, ok := doc[r]; ok {
			t.Reserved = append(t.Reserved, r)
		}
	}
	if _, err := time.LoadLocation(t.Timezone); err != nil {
		return nil, fmt.Errorf("template: %s: /timezone: %q is not a known time zone", file, t.Timezone)
	}
	if !slices.Contains(t.Languages, t.DefaultLanguage) {
		return nil, fmt.Errorf("template: %s: /default_language: %q is not among /languages %v", file, t.DefaultLanguage, t.Languages)
	}
	for lang := range t.Commands {
		if !slices.Contains(t.Languages, lang) {
			return nil, fmt.Errorf("template: %s: /commands/%s: language is not among /languages %v", file, lang, t.Languages)
		}
	}
	t.Texts = map[string]map[string]string{}
	for _, lang := range Languages {
		name := path.Join(dir, "texts."+lang+".yaml")
		texts, err := readTexts(fsys, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
		if err := cat.CheckTexts(name, texts); err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
		if len(texts) > 0 {
			t.Texts[lang] = texts
		}
	}
	return t, nil
}
