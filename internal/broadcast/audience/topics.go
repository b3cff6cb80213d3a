package audience

import (
	"context"
	"fmt"
	"regexp"
	"slices"

	"github.com/google/uuid"
)

// Topic is a subscription topic people switch on and off in the bot.
type Topic struct {
	Key string `json:"key"`
	// Default is the switch of someone who never touched it.
	Default bool `json:"default"`
	// Title per language; topics without one use the catalogue text
	// subscription.topic.<key> (news, surveys, promotions) or the key.
	Title map[string]string `json:"title,omitempty"`
}

// DefaultTopics is the topic set of a tenant whose settings name none.
var DefaultTopics = []Topic{{Key: "news", Default: true}, {Key: "surveys", Default: true}, {Key: "promotions", Default: true}}

// catalogTopics have a title in the text catalogue.
var catalogTopics = []string{"news", "surveys", "promotions"}

// topicKeyRe keeps "sub:on:<key>" within callback_data's 64 bytes.
var topicKeyRe = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

// Topics is the tenant's topic set: feature_settings.broadcasts.subscriptions
// (a list of keys, or of {key, default, title: {ru, en}}), else
// DefaultTopics. Entries that do not parse are skipped and logged.
func (s *Service) Topics(ctx context.Context, tenantID uuid.UUID) ([]Topic, error) {
	topics, _, err := s.tenantConfig(ctx, tenantID)
	return topics, err
}

func (s *Service) topicMap(ctx context.Context, tenantID uuid.UUID) (map[string]Topic, error) {
	topics, _, err := s.tenantConfig(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return indexTopics(topics), nil
}

func indexTopics(topics []Topic) map[string]Topic {
	m := make(map[string]Topic, len(topics))
	for _, t := range topics {
		m[t.Key] = t
	}
	return m
}

func topicKeys(m map[string]Topic) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// tenantConfig reads the topic set and the default language.
func (s *Service) tenantConfig(ctx context.Context, tenantID uuid.UUID) ([]Topic, string, error) {
	if s.settings == nil {
		return DefaultTopics, "", nil
	}
	st, err := s.settings.Settings(ctx, tenantID)
	if err != nil {
		return nil, "", fmt.Errorf("audience: tenant settings: %w", err)
	}
	raw, ok := st.FeatureSettings["broadcasts"]["subscriptions"].([]any)
	if !ok || len(raw) == 0 {
		return DefaultTopics, st.DefaultLanguage, nil
	}
	var out []Topic
	seen := map[string]bool{}
	for i, item := range raw {
		t, ok := parseTopic(item)
		if !ok || seen[t.Key] {
			s.log.WarnContext(ctx, "audience: skipping a bad subscription topic in the tenant settings", "tenant_id", tenantID, "index", i)
			continue
		}
		seen[t.Key] = true
		out = append(out, t)
	}
	if len(out) == 0 {
		return DefaultTopics, st.DefaultLanguage, nil
	}
	return out, st.DefaultLanguage, nil
}

func parseTopic(item any) (Topic, bool) {
	switch v := item.(type) {
	case string:
		return Topic{Key: v, Default: true}, topicKeyRe.MatchString(v)
	case map[string]any:
		key, _ := v["key"].(string)
		t := Topic{Key: key, Default: true}
		if d, ok := v["default"].(bool); ok {
			t.Default = d
		}
		if titles, ok := v["title"].(map[string]any); ok {
			t.Title = map[string]string{}
			for lang, title := range titles {
				if s, ok := title.(string); ok && s != "" {
					t.Title[lang] = s
				}
			}
		}
		return t, topicKeyRe.MatchString(key)
	}
	return Topic{}, false
}
