// Package config loads and validates the platform's settings from the
// environment, with an optional KEY=VALUE file named by HELPDESK_CONFIG.
// Every setting is declared once in Specs, which also feeds the README table
// (a test keeps the two in step).
package config

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the validated configuration of one helpdesk process.
type Config struct {
	HTTPAddr          string
	PublicURL         string
	DatabaseURL       string
	MigrateURL        string
	RedisURL          string
	SecretKey         []byte
	SecretKeyID       string
	OldSecretKeys     map[string][]byte
	JWTSecret         []byte
	AccessTTL         time.Duration
	RefreshTTL        time.Duration
	InviteTTL         time.Duration
	BodyLimit         int
	LogLevel          string
	LogFormat         string
	SMTPURL           string
	SMTPFrom          string
	TelegramAPIURL    string
	WorkerConcurrency int
	DrainWorkers      int
	TaskCheckInterval time.Duration
	ShutdownTimeout   time.Duration
	WebhookMaxConns   int
	LoginMaxPerMinute int
	TrustedProxies    []string
	DatabaseMaxConns  int
	DrainLockTTL      time.Duration
	UpdatesSweep      time.Duration
	OutboxLeaseTTL    time.Duration
	OutboxCallTimeout time.Duration
	AmoCRMBaseURL     string
	// CRMAllowPrivateNetworks lets CRM connectors call loopback and private
	// addresses (off: tenants type the URLs, so they may only be public).
	CRMAllowPrivateNetworks bool
}

// Spec describes one setting.
type Spec struct {
	Name        string
	Default     string
	Required    bool
	Description string
	apply       func(c *Config, v string) error
}

// Specs lists every setting the platform reads.
var Specs = []Spec{
	{"HELPDESK_HTTP_ADDR", "127.0.0.1:8080", false, "address the HTTP server listens on", func(c *Config, v string) error { c.HTTPAddr = v; return nil }},
	{"HELPDESK_PUBLIC_URL", "http://127.0.0.1:8080", false, "public base URL of the platform (webhook URLs and links are built from it)", func(c *Config, v string) error {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("must be an absolute http(s) URL")
		}
		c.PublicURL = strings.TrimRight(v, "/")
		return nil
	}},
	{"HELPDESK_DATABASE_URL", "postgres://helpdesk_app@127.0.0.1:5432/helpdesk?sslmode=disable", false, "PostgreSQL URL of the application role (must not own the tables, no BYPASSRLS)", postgresURL(func(c *Config) *string { return &c.DatabaseURL })},
	{"HELPDESK_DATABASE_MAX_CONNS", "40", false, "size of each process's PostgreSQL pool (keep it above the worker concurrency; PostgreSQL's max_connections must cover every process)", positiveInt(func(c *Config) *int { return &c.DatabaseMaxConns })},
	{"HELPDESK_MIGRATE_DATABASE_URL", "postgres://helpdesk@127.0.0.1:5432/helpdesk?sslmode=disable", false, "PostgreSQL URL of the role that owns the schema, used by `helpdesk migrate`", postgresURL(func(c *Config) *string { return &c.MigrateURL })},
	{"HELPDESK_REDIS_URL", "redis://127.0.0.1:6379/0", false, "Redis URL (AOF recommended, maxmemory-policy noeviction)", func(c *Config, v string) error {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return errors.New("must be a redis:// or rediss:// URL")
		}
		c.RedisURL = v
		return nil
	}},
	{"HELPDESK_SECRET_KEY", "", true, "base64 of 32 random bytes: the AES-256-GCM key for bot tokens and CRM credentials", func(c *Config, v string) error {
		k, err := decodeKey(v)
		c.SecretKey = k
		return err
	}},
	{"HELPDESK_SECRET_KEY_ID", "k1", false, "id stored beside each ciphertext, for key rotation", func(c *Config, v string) error {
		if v == "" || strings.ContainsAny(v, ":, ") {
			return errors.New("must be non-empty without ':', ',' or spaces")
		}
		c.SecretKeyID = v
		return nil
	}},
	{"HELPDESK_SECRET_KEYS_OLD", "", false, "earlier keys still able to decrypt, as id:base64,id:base64", func(c *Config, v string) error {
		c.OldSecretKeys = map[string][]byte{}
		for _, part := range strings.Split(v, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			id, b64, ok := strings.Cut(strings.TrimSpace(part), ":")
			if !ok || id == "" {
				return errors.New("each entry must be id:base64key")
			}
			k, err := decodeKey(b64)
			if err != nil {
				return fmt.Errorf("key %q: %w", id, err)
			}
			c.OldSecretKeys[id] = k
		}
		return nil
	}},
	{"HELPDESK_JWT_SECRET", "", true, "HMAC secret for access tokens, at least 32 bytes", func(c *Config, v string) error {
		if len(v) < 32 {
			return errors.New("must be at least 32 bytes long")
		}
		c.JWTSecret = []byte(v)
		return nil
	}},
	{"HELPDESK_ACCESS_TTL", "15m", false, "lifetime of an access JWT", duration(func(c *Config) *time.Duration { return &c.AccessTTL })},
	{"HELPDESK_REFRESH_TTL", "720h", false, "lifetime of a refresh token (rotated on every use)", duration(func(c *Config) *time.Duration { return &c.RefreshTTL })},
	{"HELPDESK_INVITE_TTL", "72h", false, "lifetime of invite and password-reset links", duration(func(c *Config) *time.Duration { return &c.InviteTTL })},
	{"HELPDESK_BODY_LIMIT", "1048576", false, "largest accepted request body in bytes (larger answers 413)", positiveInt(func(c *Config) *int { return &c.BodyLimit })},
	{"HELPDESK_LOG_LEVEL", "info", false, "debug, info, warn or error", oneOf(func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error")},
	{"HELPDESK_LOG_FORMAT", "json", false, "json or text", oneOf(func(c *Config) *string { return &c.LogFormat }, "json", "text")},
	{"HELPDESK_SMTP_URL", "", false, "smtp://user:pass@host:port for invite and reset e-mails; empty disables e-mail (links are still returned by the API)", func(c *Config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
				return errors.New("must be an smtp:// or smtps:// URL")
			}
		}
		c.SMTPURL = v
		return nil
	}},
	{"HELPDESK_SMTP_FROM", "helpdesk@localhost", false, "sender address of platform e-mails", func(c *Config, v string) error { c.SMTPFrom = v; return nil }},
	{"HELPDESK_TELEGRAM_API_URL", "https://api.telegram.org", false, "Bot API server (the sandbox's URL for local runs and tests)", func(c *Config, v string) error {
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			return errors.New("must be an absolute URL")
		}
		c.TelegramAPIURL = strings.TrimRight(v, "/")
		return nil
	}},
	{"HELPDESK_WORKER_CONCURRENCY", "32", false, "asynq worker goroutines per `work` process", positiveInt(func(c *Config) *int { return &c.WorkerConcurrency })},
	{"HELPDESK_DRAIN_WORKERS", "16", false, "goroutines per `work` process that take chats with new updates off the ready list and drain them (no queue poll on the live path)", positiveInt(func(c *Config) *int { return &c.DrainWorkers })},
	{"HELPDESK_TASK_CHECK_INTERVAL", "10ms", false, "how often an idle worker polls for new and retried tasks (an outbox pump's first start, retries, scheduled sends; docs/benchmarks.md)", duration(func(c *Config) *time.Duration { return &c.TaskCheckInterval })},
	{"HELPDESK_DRAIN_LOCK_TTL", "30s", false, "lifetime of a chat's drain lock (renewed while held); a killed worker's chats are free again after it", duration(func(c *Config) *time.Duration { return &c.DrainLockTTL })},
	{"HELPDESK_UPDATES_SWEEP_INTERVAL", "30s", false, "how often the sweeper re-drains chats whose mailbox has updates and no drainer", duration(func(c *Config) *time.Duration { return &c.UpdatesSweep })},
	{"HELPDESK_OUTBOX_LEASE_TTL", "30s", false, "lifetime of a bot's outbox sender lease; a killed worker's bots are picked up after it", duration(func(c *Config) *time.Duration { return &c.OutboxLeaseTTL })},
	{"HELPDESK_OUTBOX_CALL_TIMEOUT", "25s", false, "longest wait for one Bot API call", duration(func(c *Config) *time.Duration { return &c.OutboxCallTimeout })},
	{"HELPDESK_SHUTDOWN_TIMEOUT", "20s", false, "grace period for in-flight requests and tasks on SIGTERM", duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
	{"HELPDESK_WEBHOOK_MAX_CONNECTIONS", "40", false, "max_connections given to Telegram's setWebhook (1-100)", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return errors.New("must be a whole number from 1 to 100")
		}
		c.WebhookMaxConns = n
		return nil
	}},
	{"HELPDESK_TRUSTED_PROXIES", "", false, "comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For is believed (client IPs for login throttling and logs)", func(c *Config, v string) error {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
				return fmt.Errorf("%q is not an IP or CIDR", p)
			}
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
		return nil
	}},
	{"HELPDESK_LOGIN_MAX_PER_MINUTE", "10", false, "failed logins allowed per account and per IP per minute", positiveInt(func(c *Config) *int { return &c.LoginMaxPerMinute })},
	{"HELPDESK_AMOCRM_BASE_URL", "", false, "send every amoCRM API and token call here instead of https://<account> (the in-repo fake for local runs and tests; empty in production)", func(c *Config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return errors.New("must be an absolute http(s) URL")
			}
		}
		c.AmoCRMBaseURL = strings.TrimRight(v, "/")
		return nil
	}},
	{"HELPDESK_CRM_ALLOW_PRIVATE_NETWORKS", "false", false, "let CRM connectors call loopback and private addresses (a self-hosted 1C on the office network, the in-repo fakes); off, a tenant's URL can only reach the public internet", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("must be true or false")
		}
		c.CRMAllowPrivateNetworks = b
		return nil
	}},
}

// Error lists every invalid or missing setting at once, so a misconfigured
// deployment is fixed in one round.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "config: " + strings.Join(e.Problems, "; ")
}

// Load reads the settings from lookup (normally os.LookupEnv). When
// HELPDESK_CONFIG names a file, its KEY=VALUE lines fill in what the
// environment does not set. Every setting is checked; all problems are
// reported together.
func Load(lookup func(string) (string, bool)) (*Config, error) {
	return load(lookup, true)
}

// LoadWithoutSecrets is Load for commands that touch no secret (migrate):
// the secret settings are optional there.
func LoadWithoutSecrets(lookup func(string) (string, bool)) (*Config, error) {
	return load(lookup, false)
}

func load(lookup func(string) (string, bool), secrets bool) (*Config, error) {
	values := map[string]string{}
	if path, ok := lookup("HELPDESK_CONFIG"); ok && path != "" {
		fileValues, err := readFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: read %s: %w", path, err)
		}
		values = fileValues
	}
	c := &Config{}
	var problems []string
	for _, s := range Specs {
		v, ok := lookup(s.Name)
		if !ok {
			v, ok = values[s.Name]
		}
		if !ok || v == "" {
			if s.Required && secrets {
				problems = append(problems, s.Name+" is required: "+s.Description)
				continue
			}
			v = s.Default
			if v == "" {
				continue
			}
		}
		if err := s.apply(c, v); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", s.Name, err))
		}
	}
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return c, nil
}

// readFile parses a KEY=VALUE file; blank lines and # comments are skipped.
func readFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want KEY=VALUE", n)
		}
		out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	return out, sc.Err()
}

func decodeKey(v string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, errors.New("must be standard base64")
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("must decode to 32 bytes, got %d", len(k))
	}
	return k, nil
}

func postgresURL(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return errors.New("must be a postgres:// URL")
		}
		*field(c) = v
		return nil
	}
}

func duration(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errors.New("must be a positive duration such as 15m or 720h")
		}
		*field(c) = d
		return nil
	}
}

func positiveInt(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return errors.New("must be a positive whole number")
		}
		*field(c) = n
		return nil
	}
}

func oneOf(field func(*Config) *string, allowed ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		for _, a := range allowed {
			if v == a {
				*field(c) = v
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
	}
}
