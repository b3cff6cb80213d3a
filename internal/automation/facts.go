package automation

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
)

// contact is what rules see of a platform contact.
type contact struct {
	ID        uuid.UUID
	FirstName string
	Username  string
	Language  string
	Phone     string
	Tags      []string
	Custom    map[string]any
}

// contactFor finds the platform contact an event is about: the bot event's
// contact, or the contact the crm service linked to the CRM contact
// (contacts.crm_links holds {"<connector id>": {"contact_id": "<CRM
// contact id>", ...}}); a deal event without a contact id uses the deal's
// first contact. nil when there is none.
func (s *Service) contactFor(ctx context.Context, tenantID uuid.UUID, ev Event) (*contact, error) {
	var where string
	var arg []any
	switch {
	case ev.Bot != nil:
		where, arg = `id = $1`, []any{ev.Bot.ContactID}
	case ev.CRM != nil:
		crmID := ev.CRM.ContactID
		if crmID == "" && ev.CRM.DealID != "" && ev.CRM.Type != "deal.deleted" && s.crm != nil {
			d, err := s.crm.GetDeal(ctx, tenantID, ev.ConnectorID, ev.CRM.DealID)
			if err != nil {
				return nil, fmt.Errorf("automation: deal's contact: %w", err)
			}
			if len(d.ContactIDs) > 0 {
				crmID = d.ContactIDs[0]
			}
		}
		if crmID == "" {
			return nil, nil
		}
		where, arg = `crm_links @> jsonb_build_object($1::text, jsonb_build_object('contact_id', $2::text))`,
			[]any{ev.ConnectorID.String(), crmID}
	default:
		return nil, nil
	}
	var c *contact
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var x contact
		var custom []byte
		err := tx.QueryRow(ctx, `SELECT id, first_name, username, language, phone, tags, custom FROM contacts
			WHERE erased_at IS NULL AND `+where+` ORDER BY created_at LIMIT 1`, arg...).
			Scan(&x.ID, &x.FirstName, &x.Username, &x.Language, &x.Phone, &x.Tags, &custom)
		if db.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		_ = json.Unmarshal(custom, &x.Custom)
		c = &x
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("automation: contact: %w", err)
	}
	return c, nil
}

// facts are the values conditions look at.
func (s *Service) facts(ctx context.Context, tenantID uuid.UUID, ev Event) (map[string]any, error) {
	f := map[string]any{"event.source": ev.Source}
	if e := ev.CRM; e != nil {
		f["event.type"] = string(e.Type)
		f["event.deal_id"] = e.DealID
		f["event.contact_id"] = e.ContactID
		f["event.pipeline_id"] = e.PipelineID
		f["event.stage_id"] = e.StageID
		f["event.prev_stage_id"] = e.PrevStageID
		for k, v := range e.Fields {
			f["event.fields."+k] = v
		}
	}
	if b := ev.Bot; b != nil {
		f["bot.event"] = b.Type
		for k, v := range b.Payload {
			f["bot."+k] = v
		}
	}
	c, err := s.contactFor(ctx, tenantID, ev)
	if err != nil {
		return nil, err
	}
	if c != nil {
		f["contact.id"] = c.ID.String()
		f["contact.first_name"] = c.FirstName
		f["contact.username"] = c.Username
		f["contact.language"] = c.Language
		f["contact.phone"] = c.Phone
		f["contact.tags"] = c.Tags
		for k, v := range c.Custom {
			f["contact.custom."+k] = v
		}
	}
	return f, nil
}

// evaluate applies one condition to a fact (present tells whether it exists).
func evaluate(c Condition, actual any, present bool) bool {
	switch c.Op {
	case "exists":
		return present && str(actual) != ""
	case "not_exists":
		return !present || str(actual) == ""
	case "eq":
		return present && str(actual) == str(c.Value)
	case "ne":
		return !present || str(actual) != str(c.Value)
	case "in":
		list, _ := c.Value.([]any)
		for _, v := range list {
			if present && str(actual) == str(v) {
				return true
			}
		}
		return false
	case "contains":
		if !present {
			return false
		}
		switch a := actual.(type) {
		case []string:
			return slices.Contains(a, str(c.Value))
		case []any:
			for _, v := range a {
				if str(v) == str(c.Value) {
					return true
				}
			}
			return false
		}
		return strings.Contains(str(actual), str(c.Value))
	case "gt", "lt":
		a, err1 := strconv.ParseFloat(str(actual), 64)
		b, err2 := strconv.ParseFloat(str(c.Value), 64)
		if !present || err1 != nil || err2 != nil {
			return false
		}
		if c.Op == "gt" {
			return a > b
		}
		return a < b
	}
	return false
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}
