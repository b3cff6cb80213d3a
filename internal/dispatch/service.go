// Package dispatch posts jobs from CRM deals to a tenant's executors' chat
// and lets exactly one executor take each (seed 002, docs/dispatch.md).
//
// A job card carries two buttons: "Get client phone" sends the phone to the
// executor's private chat with the bot (never to the group; an executor who
// never started the bot, or blocked it, gets a t.me link that starts it and
// then delivers the phone), and "Take order", decided by one conditional
// UPDATE (DESIGN.md invariant 7). The winner's take edits the card, tells
// the chat, the executor and the deal's manager in one transaction, and
// then a retried task writes the executor back to the CRM deal.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/crm"
	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
	"github.com/tgdesk/helpdesk/internal/telegram/outbox"
	"github.com/tgdesk/helpdesk/internal/tenant"
)

// PurposeExecutors is the chat binding purpose of an executors' chat.
const PurposeExecutors = "executors"

// Errors.
var (
	ErrNotFound = errors.New("dispatch: not found")
	// ErrNoChat: the tenant has no executors' chat bound yet.
	ErrNoChat = errors.New("dispatch: no executors' chat is bound")
)

// CRMWriter reaches the tenant's CRM. The real one (internal/crm) enqueues
// durable, retried calls; errors follow crm's (crm.Retryable says whether
// to try again). key is the call's idempotency key: a call repeated with
// the same key is one call, and a new key is a new call even when the
// content is the same (a re-take after the manager moved the deal back
// must reach the CRM again). Write-backs use the job id and generation.
type CRMWriter interface {
	UpdateDeal(ctx context.Context, tenantID, connectorID uuid.UUID, key string, u crm.DealUpdate) error
	AddNote(ctx context.Context, tenantID, connectorID uuid.UUID, key string, n crm.Note) error
	GetDeal(ctx context.Context, tenantID, connectorID uuid.UUID, id string) (crm.Deal, error)
}

// Outbox sends Bot API calls (*outbox.Outbox).
type Outbox interface {
	Enqueue(ctx context.Context, m outbox.Message) (uuid.UUID, error)
	EnqueueTx(ctx context.Context, tx pgx.Tx, m outbox.Message) (uuid.UUID, error)
	AfterCommit(ctx context.Context, ids ...uuid.UUID) error
	OnResult(kind string, fn outbox.ResultHook)
}

// Texts gives tenant texts and settings (*tenant.Service).
type Texts interface {
	Text(ctx context.Context, tenantID uuid.UUID, key, lang string, vars map[string]string) string
	Settings(ctx context.Context, tenantID uuid.UUID) (tenant.Settings, error)
}

// Options tune the service.
type Options struct {
	// BindCodeTTL is how long an executors' chat bind code is valid (default 1 h).
	BindCodeTTL time.Duration
	Clock       clock.Clock
	Logger      *slog.Logger
}

// Service is the dispatch desk; safe for concurrent use.
type Service struct {
	db    *db.DB
	ob    Outbox
	q     *queue.Client
	crm   CRMWriter
	texts Texts
	opts  Options
	clock clock.Clock
	log   *slog.Logger
}

// NewService builds the desk and registers its outbox result hook (the
// card's message id).
func NewService(d *db.DB, ob Outbox, q *queue.Client, w CRMWriter, texts Texts, opts Options) *Service {
	if opts.BindCodeTTL <= 0 {
		opts.BindCodeTTL = time.Hour
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Service{db: d, ob: ob, q: q, crm: w, texts: texts, opts: opts, clock: opts.Clock, log: opts.Logger}
	ob.OnResult(kindCard, s.cardSent)
	return s
}

// Config is the tenant's dispatch settings (tenant settings "dispatch");
// a rule's post action may override Fields, ChatID and TakenStageID.
type Config struct {
	// RegisteredOnly: only approved executors may see phones and take
	// orders (default true).
	RegisteredOnly *bool `json:"registered_only,omitempty"`
	// MatchSkills: an executor must have every skill the job requires.
	MatchSkills bool `json:"match_skills,omitempty"`
	// AutoApprove: a registration is approved at once.
	AutoApprove bool `json:"auto_approve,omitempty"`
	// Fields maps card fields (title, terms, deadline, pay, address,
	// skills, client_name, client_phone) to deal data: "name", "price" or
	// a custom field id.
	Fields map[string]string `json:"fields,omitempty"`
	// ResponsibleField is the deal's custom field that gets "Name
	// @username" when the executor has no CRM user link.
	ResponsibleField string `json:"responsible_field,omitempty"`
	// TakenStageID, when set, moves the deal there after a take.
	TakenStageID string `json:"taken_stage_id,omitempty"`
	// CancelStages remove the card when the deal enters one of them
	// (amoCRM's "closed, not realised" is 143).
	CancelStages []string `json:"cancel_stages,omitempty"`
	// ManagerChatID is told about takes when the deal's manager has no
	// Telegram link (default: the first staff support group).
	ManagerChatID int64 `json:"manager_chat_id,omitempty"`
	// ChatID picks the executors' chat when there are several.
	ChatID int64 `json:"chat_id,omitempty"`
}

func (c Config) registeredOnly() bool { return c.RegisteredOnly == nil || *c.RegisteredOnly }

// merge lays o's set members over c.
func (c Config) merge(o Config) Config {
	if len(o.Fields) > 0 {
		f := map[string]string{}
		for k, v := range c.Fields {
			f[k] = v
		}
		for k, v := range o.Fields {
			f[k] = v
		}
		c.Fields = f
	}
	if o.TakenStageID != "" {
		c.TakenStageID = o.TakenStageID
	}
	if o.ChatID != 0 {
		c.ChatID = o.ChatID
	}
	if o.ResponsibleField != "" {
		c.ResponsibleField = o.ResponsibleField
	}
	return c
}

func (s *Service) config(ctx context.Context, tenantID uuid.UUID) Config {
	var c Config
	st, err := s.texts.Settings(ctx, tenantID)
	if err != nil {
		s.log.Warn("dispatch: tenant settings", "tenant_id", tenantID, "error", err)
		return c
	}
	if raw, err := json.Marshal(st.FeatureSettings["dispatch"]); err == nil {
		_ = json.Unmarshal(raw, &c)
	}
	return c
}

func (s *Service) inTenant(ctx context.Context, tenantID uuid.UUID, fn func(tx pgx.Tx) error) error {
	return s.db.InTenant(ctx, tenantID, fn)
}

func (s *Service) text(ctx context.Context, tenantID uuid.UUID, key, lang string, vars map[string]string) string {
	return s.texts.Text(ctx, tenantID, key, lang, vars)
}

// Card is what a job card shows, mapped from the deal.
type Card struct {
	Title    string   `json:"title"`
	Terms    string   `json:"terms"`
	Deadline string   `json:"deadline"`
	Pay      string   `json:"pay"`
	Address  string   `json:"address"`
	Skills   []string `json:"skills"`
}

var defaultFields = map[string]string{"title": "name", "pay": "price"}

// cardOf maps a deal to a card and the client's name and phone.
func cardOf(d crm.Deal, fields map[string]string) (Card, string, string) {
	get := func(name string) string {
		src := fields[name]
		if src == "" {
			src = defaultFields[name]
		}
		switch src {
		case "":
			return ""
		case "name":
			return d.Name
		case "price":
			if d.Price == 0 {
				return ""
			}
			return strconv.FormatFloat(d.Price, 'f', -1, 64)
		}
		return valueString(d.Fields[strings.TrimPrefix(src, "fields.")])
	}
	c := Card{Title: get("title"), Terms: get("terms"), Deadline: get("deadline"), Pay: get("pay"), Address: get("address")}
	if c.Title == "" {
		c.Title = "#" + d.ID
	}
	for _, sk := range strings.Split(get("skills"), ",") {
		if sk = strings.TrimSpace(strings.ToLower(sk)); sk != "" {
			c.Skills = append(c.Skills, sk)
		}
	}
	return c, get("client_name"), get("client_phone")
}

func valueString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			parts = append(parts, valueString(e))
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

func audit(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, actor, action, target string, details map[string]any, now time.Time) error {
	raw, _ := json.Marshal(details)
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (tenant_id, actor, action, target, details, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		tenantID, actor, action, target, raw, now); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

func addEvent(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, contactID uuid.UUID, botID int64, typ string, payload map[string]any, now time.Time) error {
	raw, _ := json.Marshal(payload)
	var cid *uuid.UUID
	if contactID != uuid.Nil {
		cid = &contactID
	}
	if _, err := tx.Exec(ctx, `INSERT INTO events (tenant_id, contact_id, bot_id, type, payload, occurred_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		tenantID, cid, botID, typ, raw, now); err != nil {
		return fmt.Errorf("store: event: %w", err)
	}
	return nil
}
