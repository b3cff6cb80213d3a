package crm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/survey"
)

// Write-back (docs/connectors/README.md#write-back): where a feature learns
// something about a linked person, the CRM contact they are linked to is
// updated through a durable call (OpUpdateContact):
//
//   - a shared phone is added to the CRM contact (LinkByPhone) — the
//     connector reads the contact and adds only a number it lacks;
//   - an answer to a survey question the connector maps (survey_fields)
//     sets that CRM contact field (OnSurveyAnswer).
//
// Callback requests are not a feature yet; they will write back the same
// way.

// checkSurveyFields refuses survey_fields naming questions the tenant does
// not have.
func (s *Service) checkSurveyFields(ctx context.Context, tenantID uuid.UUID, m Mapping) error {
	if len(m.SurveyFields) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, 0, len(m.SurveyFields))
	for k := range m.SurveyFields {
		ids = append(ids, uuid.MustParse(k))
	}
	var found []uuid.UUID
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM survey_questions WHERE id = ANY($1)`, ids)
		if err != nil {
			return fmt.Errorf("store: survey questions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id uuid.UUID
			if err := rows.Scan(&id); err != nil {
				return err
			}
			found = append(found, id)
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	have := map[uuid.UUID]bool{}
	for _, id := range found {
		have[id] = true
	}
	for _, id := range ids {
		if !have[id] {
			return invalid("mapping.survey_fields."+id.String(), "not_found", "no such survey question")
		}
	}
	return nil
}

// writePhone queues the addition of a shared phone to the CRM contact a
// person is linked to. The key makes a phone shared again (or the update
// redelivered) one call per connector.
func (s *Service) writePhone(ctx context.Context, tenantID, contactID, connectorID uuid.UUID, crmContactID, phone string) error {
	key := "phone:" + contactID.String() + ":" + digitsOf(phone)
	_, err := s.UpdateContact(ctx, tenantID, connectorID, key, ContactUpdate{ContactID: crmContactID, Phones: []string{phone}})
	var inv *InvalidError
	if errors.As(err, &inv) {
		return nil // nothing to write
	}
	return err
}

func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// OnSurveyAnswer writes an answer to every CRM contact the person is
// linked to through a connector that maps the question (register it with
// survey.Service.OnAnswer("")). A skipped answer writes nothing; an edited
// one writes the new value.
func (s *Service) OnSurveyAnswer(ctx context.Context, a survey.Answer) error {
	if a.Value.Skipped || a.ContactID == uuid.Nil {
		return nil
	}
	value, ok := answerValue(a.Question, a.Value)
	if !ok {
		return nil
	}
	var rows []connectorRow
	var links map[string]Link
	err := s.db.InTenant(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		if links, err = linksOf(ctx, tx, a.ContactID); err != nil {
			return err
		}
		rows, err = listConnectors(ctx, tx)
		return err
	})
	if errors.Is(err, ErrContactNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rows {
		field := r.Mapping.SurveyFields[a.Question.ID.String()]
		link, linked := links[r.ID.String()]
		if field == "" || !linked {
			continue
		}
		// No key: every answer (an edit too) is its own call; the same
		// value written twice is harmless.
		if _, err := s.UpdateContact(ctx, a.TenantID, r.ID, "", ContactUpdate{ContactID: link.ContactID,
			Fields: map[string]any{field: value}}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// answerValue is what a CRM field gets for an answer: the text, the scale
// value, the chosen option's text, or the chosen options' texts joined by
// ", " (a CRM text field holds them all).
func answerValue(q survey.Question, v survey.Value) (any, bool) {
	option := func(i int) string {
		if i >= 0 && i < len(q.Options) {
			return q.Options[i]
		}
		return strconv.Itoa(i)
	}
	switch q.Kind {
	case survey.KindText:
		return v.Text, strings.TrimSpace(v.Text) != ""
	case survey.KindScale:
		if v.Value == nil {
			return nil, false
		}
		return *v.Value, true
	case survey.KindSingle:
		if len(v.Choices) == 0 {
			return nil, false
		}
		return option(v.Choices[0]), true
	case survey.KindMulti:
		if len(v.Choices) == 0 {
			return nil, false
		}
		parts := make([]string, len(v.Choices))
		for i, c := range v.Choices {
			parts[i] = option(c)
		}
		return strings.Join(parts, ", "), true
	}
	return nil, false
}
