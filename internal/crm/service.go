package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/tgdesk/helpdesk/internal/platform/clock"
	"github.com/tgdesk/helpdesk/internal/platform/crypto"
	"github.com/tgdesk/helpdesk/internal/platform/db"
	"github.com/tgdesk/helpdesk/internal/platform/ids"
	"github.com/tgdesk/helpdesk/internal/platform/queue"
)

// Service errors the HTTP edge maps to problems.
var (
	ErrConnectorNotFound = errors.New("crm: no such connector")
	ErrUnknownKind       = errors.New("crm: unknown connector kind")
	ErrOAuthState        = errors.New("crm: unknown or expired OAuth state")
)

// InvalidError names the field of a refused request.
type InvalidError struct{ Field, Code, Message string }

func (e *InvalidError) Error() string { return "crm: " + e.Field + ": " + e.Message }

func invalid(field, code, msg string) error {
	return &InvalidError{Field: field, Code: code, Message: msg}
}

// EventSink receives every deduplicated CRM event, in a worker task (a
// failed delivery is retried). The automation rules implement it; an
// error wrapping ErrNotFound (an unknown pipeline, say) is logged and
// counted, not retried.
type EventSink interface {
	HandleCRMEvent(ctx context.Context, tenantID uuid.UUID, connectorID uuid.UUID, e Event) error
}

// Options tune the service.
type Options struct {
	// PublicURL is the platform's public base URL: webhooks go to
	// PublicURL/hooks/crm/<public id>/<secret> and OAuth redirects to
	// PublicURL/api/v1/connectors/<kind>/oauth/callback.
	PublicURL string
	// Rates are requests per second per CRM account by kind (defaults:
	// amoCRM 7, Bitrix24 2, HTTP/JSON 10).
	Rates map[Kind]int
	// MaxAttempts bounds the attempts of a call while the CRM is down
	// (default 12; 429s do not count).
	MaxAttempts int
	// Backoff is the wait before attempt n+1 after a 5xx or network error
	// (default 2^n s, at most 10 min).
	Backoff func(n int) time.Duration
	// MinRetry is the shortest wait before a retried call or event
	// (default 1 s; a 429 without Retry-After waits this long).
	MinRetry time.Duration
	// RefreshBefore refreshes an OAuth token this long before it expires
	// (default 10 min).
	RefreshBefore time.Duration
	// DedupeTTL is how long an event key is remembered (default 72 h).
	DedupeTTL time.Duration
	// MaxWebhookBody is the largest webhook body accepted (default 1 MiB;
	// the app-wide body limit applies first).
	MaxWebhookBody int
	// LinkCodeTTL is the lifetime of a deep-link code (default 30 days).
	LinkCodeTTL time.Duration
	HTTPClient  *http.Client
	// AllowPrivateNetworks lets connectors reach loopback and private
	// addresses (the in-repo fakes, a 1C server on the office network in a
	// self-hosted install). Off, the default HTTP client refuses them
	// (PublicOnlyClient), since tenants type the URLs.
	AllowPrivateNetworks bool
	Clock                clock.Clock
	Logger               *slog.Logger
}

// Service keeps connectors, accepts their webhooks and runs their calls.
type Service struct {
	db    *db.DB
	rdb   redis.UniversalClient
	q     *queue.Client
	keys  *crypto.Keyring
	opts  Options
	log   *slog.Logger
	clock clock.Clock
	group singleflight.Group

	mu        sync.RWMutex
	factories map[Kind]Factory
	oauth     map[Kind]OAuthProvider
	limiters  map[Kind]Limiter
	sink      EventSink
}

// NewService builds the service; Register adds connector kinds.
func NewService(d *db.DB, rdb redis.UniversalClient, q *queue.Client, keys *crypto.Keyring, opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 12
	}
	if opts.Backoff == nil {
		opts.Backoff = func(n int) time.Duration {
			if n > 9 {
				return 10 * time.Minute
			}
			return time.Duration(1<<n) * time.Second
		}
	}
	if opts.MinRetry <= 0 {
		opts.MinRetry = time.Second
	}
	if opts.RefreshBefore <= 0 {
		opts.RefreshBefore = 10 * time.Minute
	}
	if opts.DedupeTTL <= 0 {
		opts.DedupeTTL = 72 * time.Hour
	}
	if opts.MaxWebhookBody <= 0 {
		opts.MaxWebhookBody = 1 << 20
	}
	if opts.LinkCodeTTL <= 0 {
		opts.LinkCodeTTL = 30 * 24 * time.Hour
	}
	if opts.HTTPClient == nil {
		if opts.AllowPrivateNetworks {
			opts.HTTPClient = &http.Client{Timeout: 20 * time.Second}
		} else {
			opts.HTTPClient = PublicOnlyClient(20 * time.Second)
		}
	}
	rates := map[Kind]int{AmoCRM: 7, Bitrix24: 2, HTTPJSON: 10}
	for k, v := range opts.Rates {
		rates[k] = v
	}
	opts.Rates = rates
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	return &Service{db: d, rdb: rdb, q: q, keys: keys, opts: opts, log: opts.Logger, clock: opts.Clock,
		factories: map[Kind]Factory{}, oauth: map[Kind]OAuthProvider{}, limiters: map[Kind]Limiter{}}
}

// Register makes a connector kind available.
func (s *Service) Register(kind Kind, f Factory) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.factories[kind] = f
	s.limiters[kind] = NewRedisLimiter(s.rdb, s.opts.Rates[kind])
}

// RegisterOAuth enables the OAuth2 flow for a kind (amoCRM).
func (s *Service) RegisterOAuth(kind Kind, p OAuthProvider) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth[kind] = p
}

// SetSink sets who receives CRM events (the automation rules). Until one
// is set, events are logged and dropped.
func (s *Service) SetSink(sink EventSink) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sink = sink
}

func (s *Service) factory(kind Kind) (Factory, Limiter, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, ok := s.factories[kind]
	if !ok {
		return nil, nil, ErrUnknownKind
	}
	return f, s.limiters[kind], nil
}

// Health is how a connector is doing.
type Health struct {
	Status         string     `json:"status"` // active, auth_error
	LastSuccessAt  *time.Time `json:"last_success_at"`
	LastErrorAt    *time.Time `json:"last_error_at"`
	LastError      string     `json:"last_error"`
	PendingCalls   int        `json:"pending_calls"`
	FailedCalls    int        `json:"failed_calls"`
	TokenExpiresAt *time.Time `json:"token_expires_at"`
	EventsReceived int64      `json:"events_received"`
	EventsIgnored  int64      `json:"events_ignored"`
	LastCall       *CallView  `json:"last_call"`
}

// CallView is one outgoing call as the API shows it.
type CallView struct {
	ID        uuid.UUID `json:"id"`
	Op        string    `json:"op"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Mapping says which CRM contact fields land in which contact attribute
// (contacts.custom), by CRM field id, and which survey questions are
// written back to which CRM contact field (survey_fields: question id ->
// CRM field id; docs/connectors/README.md#write-back).
type Mapping struct {
	ContactFields map[string]string `json:"contact_fields"`
	SurveyFields  map[string]string `json:"survey_fields,omitempty"`
}

// Info is a connector as the API shows it: never its credentials.
type Info struct {
	ID         uuid.UUID `json:"id"`
	Kind       Kind      `json:"kind"`
	Name       string    `json:"name"`
	Account    string    `json:"account"`
	Auth       string    `json:"auth"` // token or oauth
	WebhookURL string    `json:"webhook_url"`
	Mapping    Mapping   `json:"mapping"`
	Health     Health    `json:"health"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func credsAAD(id uuid.UUID) []byte  { return []byte("crm:creds:" + id.String()) }
func oauthAAD(id uuid.UUID) []byte  { return []byte("crm:oauth:" + id.String()) }
func secretAAD(id uuid.UUID) []byte { return []byte("crm:webhook:" + id.String()) }

var attrRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

func validMapping(m Mapping) error {
	for k, v := range m.ContactFields {
		if k == "" || len(k) > 64 {
			return invalid("mapping.contact_fields", "invalid", "CRM field ids are 1 to 64 characters")
		}
		if !attrRe.MatchString(v) {
			return invalid("mapping.contact_fields."+k, "invalid", "attribute names are lower-case letters, digits and _")
		}
	}
	if len(m.SurveyFields) > 200 {
		return invalid("mapping.survey_fields", "too_many", "at most 200 survey questions")
	}
	for k, v := range m.SurveyFields {
		if _, err := uuid.Parse(k); err != nil {
			return invalid("mapping.survey_fields", "invalid", "keys are survey question ids")
		}
		if v == "" || len(v) > 64 {
			return invalid("mapping.survey_fields."+k, "invalid", "CRM field ids are 1 to 64 characters")
		}
	}
	return nil
}

// CreateRequest connects a CRM with credentials (for amoCRM: account and a
// long-lived token).
type CreateRequest struct {
	Kind        Kind            `json:"kind"`
	Name        string          `json:"name"`
	Credentials json.RawMessage `json:"credentials"`
	Mapping     *Mapping        `json:"mapping"`
}

// accountOf reads the account a kind's credentials name, for display.
func accountOf(creds []byte) string {
	var c struct {
		Account    string `json:"account"`
		WebhookURL string `json:"webhook_url"`
		BaseURL    string `json:"base_url"`
	}
	_ = json.Unmarshal(creds, &c)
	for _, v := range []string{c.Account, c.WebhookURL, c.BaseURL} {
		if v != "" {
			// Only the host: a Bitrix24 webhook URL carries its secret in the path.
			if i := strings.Index(v, "://"); i >= 0 {
				v = v[i+3:]
			}
			if i := strings.IndexByte(v, '/'); i >= 0 {
				v = v[:i]
			}
			return strings.ToLower(v)
		}
	}
	return ""
}

// Create connects a CRM. The kind's factory checks the credentials.
func (s *Service) Create(ctx context.Context, tenantID, actorID uuid.UUID, r CreateRequest) (Info, error) {
	name := strings.TrimSpace(r.Name)
	if name == "" || len(name) > 200 {
		return Info{}, invalid("name", "required", "a name of 1 to 200 characters")
	}
	f, lim, err := s.factory(r.Kind)
	if err != nil {
		return Info{}, invalid("kind", "unknown_kind", "not a connector kind of this platform")
	}
	if len(r.Credentials) == 0 {
		return Info{}, invalid("credentials", "required", "the CRM's credentials")
	}
	mapping := Mapping{ContactFields: map[string]string{}}
	if r.Mapping != nil {
		if err := validMapping(*r.Mapping); err != nil {
			return Info{}, err
		}
		mapping = *r.Mapping
		if err := s.checkSurveyFields(ctx, tenantID, mapping); err != nil {
			return Info{}, err
		}
	}
	if _, err := f(r.Credentials, Deps{HTTPClient: s.opts.HTTPClient, Limiter: lim, Logger: s.log}); err != nil {
		if errors.Is(err, ErrInvalid) {
			return Info{}, invalid("credentials", "invalid_credentials", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
		}
		return Info{}, err
	}
	return s.insert(ctx, tenantID, actorID, r.Kind, name, r.Credentials, nil, mapping)
}

func (s *Service) insert(ctx context.Context, tenantID, actorID uuid.UUID, kind Kind, name string, creds []byte, oauth *oauthState, m Mapping) (Info, error) {
	id := ids.New()
	row := connectorRow{ID: id, Kind: kind, Name: name, PublicID: ids.Token(16), Account: accountOf(creds), Mapping: m}
	var err error
	if row.CredsSealed, err = s.keys.Seal(creds, credsAAD(id)); err != nil {
		return Info{}, fmt.Errorf("crm: seal credentials: %w", err)
	}
	secret := ids.Token(24)
	if row.SecretSealed, err = s.keys.Seal([]byte(secret), secretAAD(id)); err != nil {
		return Info{}, fmt.Errorf("crm: seal secret: %w", err)
	}
	if oauth != nil {
		raw, _ := json.Marshal(oauth)
		if row.OAuthSealed, err = s.keys.Seal(raw, oauthAAD(id)); err != nil {
			return Info{}, fmt.Errorf("crm: seal oauth: %w", err)
		}
		exp := oauth.Token.ExpiresAt
		row.TokenExpiresAt = &exp
	}
	var out Info
	err = s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if err := insertConnector(ctx, tx, tenantID, row, s.clock.Now()); err != nil {
			return err
		}
		if err := audit(ctx, tx, tenantID, actorID, "crm.connector_created", id, map[string]any{"kind": kind}); err != nil {
			return err
		}
		if out, err = s.info(ctx, tx, id); err != nil {
			return err
		}
		out.WebhookURL = s.hookURL(row, secret) // the only answer that shows the secret
		return nil
	})
	if err != nil {
		return Info{}, fmt.Errorf("crm: create connector: %w", err)
	}
	s.log.Info("crm connector created", "tenant_id", tenantID, "connector_id", id, "kind", kind)
	return out, nil
}

// maskedSecret stands for the webhook secret in every answer but the one
// that created it: the secret is the only authenticator of amoCRM's unsigned
// webhooks, so a read (or a leaked admin session) must not reveal it.
const maskedSecret = "********"

func (s *Service) hookURL(r connectorRow, secret string) string {
	return s.opts.PublicURL + "/hooks/crm/" + r.PublicID + "/" + secret
}

// RotateWebhookSecret gives the connector a new webhook secret and returns
// the connector with the full webhook URL, once: the old URL stops working
// at once (paste the new one into the CRM).
func (s *Service) RotateWebhookSecret(ctx context.Context, tenantID, actorID, id uuid.UUID) (Info, error) {
	secret := ids.Token(24)
	sealed, err := s.keys.Seal([]byte(secret), secretAAD(id))
	if err != nil {
		return Info{}, fmt.Errorf("crm: seal secret: %w", err)
	}
	var out Info
	err = s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE connectors SET webhook_secret = $2, updated_at = $3 WHERE id = $1`, id, sealed, s.clock.Now())
		if err != nil {
			return fmt.Errorf("crm: rotate webhook secret: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrConnectorNotFound
		}
		if err := audit(ctx, tx, tenantID, actorID, "crm.webhook_secret_rotated", id, nil); err != nil {
			return err
		}
		r, err := getConnector(ctx, tx, id)
		if err != nil {
			return err
		}
		if out, err = s.view(ctx, tx, r); err != nil {
			return err
		}
		out.WebhookURL = s.hookURL(r, secret)
		return nil
	})
	if err != nil {
		return Info{}, err
	}
	return out, nil
}

func (s *Service) info(ctx context.Context, tx pgx.Tx, id uuid.UUID) (Info, error) {
	r, err := getConnector(ctx, tx, id)
	if err != nil {
		return Info{}, err
	}
	return s.view(ctx, tx, r)
}

func (s *Service) view(ctx context.Context, tx pgx.Tx, r connectorRow) (Info, error) {
	u := s.hookURL(r, maskedSecret)
	h, err := health(ctx, tx, r)
	if err != nil {
		return Info{}, err
	}
	auth := "token"
	if r.OAuthSealed != nil {
		auth = "oauth"
	}
	if r.Mapping.ContactFields == nil {
		r.Mapping.ContactFields = map[string]string{}
	}
	return Info{ID: r.ID, Kind: r.Kind, Name: r.Name, Account: r.Account, Auth: auth, WebhookURL: u,
		Mapping: r.Mapping, Health: h, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}, nil
}

// List returns the tenant's connectors with their health.
func (s *Service) List(ctx context.Context, tenantID uuid.UUID) ([]Info, error) {
	out := []Info{}
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := listConnectors(ctx, tx)
		if err != nil {
			return err
		}
		for _, r := range rows {
			v, err := s.view(ctx, tx, r)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("crm: list connectors: %w", err)
	}
	return out, nil
}

// Get returns one connector; another tenant's is ErrConnectorNotFound.
func (s *Service) Get(ctx context.Context, tenantID, id uuid.UUID) (Info, error) {
	var out Info
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		out, err = s.info(ctx, tx, id)
		return err
	})
	return out, err
}

// UpdateRequest changes a connector's name or mapping.
type UpdateRequest struct {
	Name    *string  `json:"name"`
	Mapping *Mapping `json:"mapping"`
}

// Update renames a connector or replaces its field mapping.
func (s *Service) Update(ctx context.Context, tenantID, actorID, id uuid.UUID, r UpdateRequest) (Info, error) {
	if r.Name != nil {
		n := strings.TrimSpace(*r.Name)
		if n == "" || len(n) > 200 {
			return Info{}, invalid("name", "required", "a name of 1 to 200 characters")
		}
		r.Name = &n
	}
	if r.Mapping != nil {
		if err := validMapping(*r.Mapping); err != nil {
			return Info{}, err
		}
		if err := s.checkSurveyFields(ctx, tenantID, *r.Mapping); err != nil {
			return Info{}, err
		}
	}
	var out Info
	err := s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if err := updateConnector(ctx, tx, id, r.Name, r.Mapping, s.clock.Now()); err != nil {
			return err
		}
		if err := audit(ctx, tx, tenantID, actorID, "crm.connector_updated", id, nil); err != nil {
			return err
		}
		var err error
		out, err = s.info(ctx, tx, id)
		return err
	})
	return out, err
}

// Delete disconnects: the connector, its queued calls and link codes go;
// contacts keep their CRM links (a reconnect is a new connector).
func (s *Service) Delete(ctx context.Context, tenantID, actorID, id uuid.UUID) error {
	return s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if err := deleteConnector(ctx, tx, id); err != nil {
			return err
		}
		return audit(ctx, tx, tenantID, actorID, "crm.connector_deleted", id, nil)
	})
}
