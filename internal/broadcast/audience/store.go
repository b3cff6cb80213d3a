package audience

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
)

// Every query runs in db.InTenant (RLS scopes it) and names the tenant
// explicitly as well.

// query is a compiled audience: the rows of one bot's subscribers the
// filter matches (where), and among them those a campaign would send to
// (deliverable: reachable, not stopped, subscribed to the topic).
type query struct {
	tenantID    uuid.UUID
	where       string
	deliverable string
	args        []any
	defaultLang string
}

func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// prepare compiles the audience of a saved segment (segmentID), an unsaved
// filter (f) or the whole bot (neither).
func (s *Service) prepare(ctx context.Context, tenantID uuid.UUID, botID int64, segmentID uuid.UUID, f *Filter, topic string) (*query, error) {
	topics, defLang, err := s.tenantConfig(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	byKey := indexTopics(topics)
	if segmentID != uuid.Nil {
		seg, err := s.GetSegment(ctx, tenantID, segmentID)
		if err != nil {
			return nil, err
		}
		f = &seg.Filter
	}
	q := &query{tenantID: tenantID, defaultLang: defLang, args: []any{tenantID, botID}}
	q.where = "bc.tenant_id = $1 AND bc.bot_id = $2 AND c.erased_at IS NULL"
	if f != nil {
		cx, err := compileFilter(*f, "filter", s.clock.Now(), byKey, len(q.args))
		if err != nil {
			return nil, err
		}
		q.args = append(q.args, cx.args...)
		q.where += " AND " + cx.expr
	}
	q.deliverable = "bc.reachable AND NOT bc.unsubscribed"
	if topic != "" {
		t, ok := byKey[topic]
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrUnknownTopic, topic)
		}
		q.deliverable += " AND " + topicSwitch(q.arg(t.Key), q.arg(t.Default))
	}
	return q, nil
}

const audienceFrom = " FROM bot_chats bc JOIN contacts c ON c.id = bc.contact_id AND c.tenant_id = bc.tenant_id WHERE "

func (q *query) sizes(ctx context.Context, d *db.DB) (Sizes, error) {
	var sz Sizes
	sql := "SELECT count(*), count(*) FILTER (WHERE " + q.deliverable + ")" + audienceFrom + q.where
	err := d.InTenant(ctx, q.tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, sql, q.args...).Scan(&sz.Matching, &sz.Reachable)
	})
	if err != nil {
		return Sizes{}, fmt.Errorf("audience: count: %w", err)
	}
	return sz, nil
}

func (q *query) page(ctx context.Context, d *db.DB, after uuid.UUID, limit int) ([]Recipient, error) {
	args := append([]any(nil), q.args...)
	n := len(args)
	args = append(args, after, limit)
	sql := "SELECT bc.id, bc.contact_id, bc.chat_id, c.language, c.first_name, c.last_name, c.username" + audienceFrom +
		q.where + " AND " + q.deliverable + " AND bc.id > $" + strconv.Itoa(n+1) + " ORDER BY bc.id LIMIT $" + strconv.Itoa(n+2)
	out := make([]Recipient, 0, limit)
	err := d.InTenant(ctx, q.tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Recipient
			if err := rows.Scan(&r.BotChatID, &r.ContactID, &r.ChatID, &r.Lang, &r.FirstName, &r.LastName, &r.Username); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("audience: page: %w", err)
	}
	return out, nil
}

func (s *Service) checkBot(ctx context.Context, tenantID uuid.UUID, botID int64) error {
	var ok bool
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM bots WHERE tenant_id = $1 AND id = $2)", tenantID, botID).Scan(&ok)
	})
	if err != nil {
		return fmt.Errorf("audience: check bot: %w", err)
	}
	if !ok {
		return ErrUnknownBot
	}
	return nil
}

func (d *SegmentDef) normalize() error {
	d.Name = strings.TrimSpace(d.Name)
	d.Description = strings.TrimSpace(d.Description)
	var errs []FieldError
	if n := len([]rune(d.Name)); n < 1 || n > 200 {
		errs = append(errs, FieldError{Field: "name", Code: "invalid_length", Message: "must be 1–200 characters"})
	}
	if len([]rune(d.Description)) > 2000 {
		errs = append(errs, FieldError{Field: "description", Code: "invalid_length", Message: "must be at most 2000 characters"})
	}
	if len(errs) > 0 {
		return &InvalidError{Fields: errs}
	}
	return nil
}

// checkDef validates a definition: its name and its filter.
func (s *Service) checkDef(ctx context.Context, tenantID uuid.UUID, d *SegmentDef) error {
	nameErr := d.normalize()
	filterErr := s.Validate(ctx, tenantID, d.Filter)
	var fields []FieldError
	for _, err := range []error{nameErr, filterErr} {
		if inv, ok := err.(*InvalidError); ok {
			fields = append(fields, inv.Fields...)
		} else if err != nil {
			return err
		}
	}
	if len(fields) > 0 {
		return &InvalidError{Fields: fields}
	}
	return nil
}

// CreateSegment validates and saves a segment.
func (s *Service) CreateSegment(ctx context.Context, tenantID, actor uuid.UUID, d SegmentDef) (Segment, error) {
	if err := s.checkDef(ctx, tenantID, &d); err != nil {
		return Segment{}, err
	}
	raw, err := json.Marshal(d.Filter)
	if err != nil {
		return Segment{}, fmt.Errorf("audience: encode filter: %w", err)
	}
	now := s.clock.Now()
	seg := Segment{ID: ids.New(), Name: d.Name, Description: d.Description, Filter: d.Filter, CreatedAt: now, UpdatedAt: now}
	if actor != uuid.Nil {
		seg.CreatedBy = &actor
	}
	err = s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO segments (id, tenant_id, name, description, filter, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, seg.ID, tenantID, seg.Name, seg.Description, raw, seg.CreatedBy, now); err != nil {
			return err
		}
		return audit(ctx, tx, tenantID, actor, "segment.create", seg.ID, map[string]any{"name": seg.Name}, now)
	})
	if db.IsUniqueViolation(err, "") {
		return Segment{}, ErrNameTaken
	}
	if err != nil {
		return Segment{}, fmt.Errorf("audience: create segment: %w", err)
	}
	return seg, nil
}

// UpdateSegment replaces a segment's name, description and filter.
func (s *Service) UpdateSegment(ctx context.Context, tenantID, actor, id uuid.UUID, d SegmentDef) (Segment, error) {
	if _, err := s.GetSegment(ctx, tenantID, id); err != nil {
		return Segment{}, err
	}
	if err := s.checkDef(ctx, tenantID, &d); err != nil {
		return Segment{}, err
	}
	raw, err := json.Marshal(d.Filter)
	if err != nil {
		return Segment{}, fmt.Errorf("audience: encode filter: %w", err)
	}
	now := s.clock.Now()
	var seg Segment
	err = s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		row := tx.QueryRow(ctx, `UPDATE segments SET name = $3, description = $4, filter = $5, updated_at = $6
			WHERE tenant_id = $1 AND id = $2
			RETURNING id, name, description, filter, created_by, created_at, updated_at`, tenantID, id, d.Name, d.Description, raw, now)
		if err := scanSegment(row, &seg); err != nil {
			return err
		}
		return audit(ctx, tx, tenantID, actor, "segment.update", id, map[string]any{"name": seg.Name}, now)
	})
	switch {
	case db.IsNotFound(err):
		return Segment{}, ErrNotFound
	case db.IsUniqueViolation(err, ""):
		return Segment{}, ErrNameTaken
	case err != nil:
		return Segment{}, fmt.Errorf("audience: update segment: %w", err)
	}
	return seg, nil
}

// DeleteSegment removes a segment.
func (s *Service) DeleteSegment(ctx context.Context, tenantID, actor, id uuid.UUID) error {
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var name string
		if err := tx.QueryRow(ctx, "DELETE FROM segments WHERE tenant_id = $1 AND id = $2 RETURNING name", tenantID, id).Scan(&name); err != nil {
			return err
		}
		return audit(ctx, tx, tenantID, actor, "segment.delete", id, map[string]any{"name": name}, s.clock.Now())
	})
	var pg *pgconn.PgError
	switch {
	case db.IsNotFound(err):
		return ErrNotFound
	case errors.As(err, &pg) && pg.Code == "23503":
		// A campaign still refers to it.
		return ErrInUse
	case err != nil:
		return fmt.Errorf("audience: delete segment: %w", err)
	}
	return nil
}

// GetSegment reads one segment.
func (s *Service) GetSegment(ctx context.Context, tenantID, id uuid.UUID) (Segment, error) {
	var seg Segment
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return scanSegment(tx.QueryRow(ctx, `SELECT id, name, description, filter, created_by, created_at, updated_at
			FROM segments WHERE tenant_id = $1 AND id = $2`, tenantID, id), &seg)
	})
	if db.IsNotFound(err) {
		return Segment{}, ErrNotFound
	}
	if err != nil {
		return Segment{}, fmt.Errorf("audience: get segment: %w", err)
	}
	return seg, nil
}

// ListSegments lists the tenant's segments by name.
func (s *Service) ListSegments(ctx context.Context, tenantID uuid.UUID) ([]Segment, error) {
	out := []Segment{}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, name, description, filter, created_by, created_at, updated_at
			FROM segments WHERE tenant_id = $1 ORDER BY name, id`, tenantID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var seg Segment
			if err := scanSegment(rows, &seg); err != nil {
				return err
			}
			out = append(out, seg)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("audience: list segments: %w", err)
	}
	return out, nil
}

func scanSegment(row pgx.Row, seg *Segment) error {
	var raw []byte
	if err := row.Scan(&seg.ID, &seg.Name, &seg.Description, &raw, &seg.CreatedBy, &seg.CreatedAt, &seg.UpdatedAt); err != nil {
		return err
	}
	return json.Unmarshal(raw, &seg.Filter)
}

func audit(ctx context.Context, tx pgx.Tx, tenantID, actor uuid.UUID, action string, target uuid.UUID, details map[string]any, now time.Time) error {
	raw, _ := json.Marshal(details)
	who := "system"
	if actor != uuid.Nil {
		who = actor.String()
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (tenant_id, actor, action, target, details, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		tenantID, who, action, "segment:"+target.String(), raw, now)
	return err
}
