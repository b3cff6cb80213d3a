package bots

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/mymmrac/telego"
	ta "github.com/mymmrac/telego/telegoapi"
)

// TelegramAPI is the part of the Bot API the registry needs. Implementations
// map a refused token to ErrTokenRejected and an unreachable Telegram to
// ErrTelegramUnavailable, and never put the token in an error.
type TelegramAPI interface {
	GetMe(ctx context.Context, token string) (BotInfo, error)
	SetWebhook(ctx context.Context, token string, w WebhookParams) error
	DeleteWebhook(ctx context.Context, token string) error
	GetWebhookInfo(ctx context.Context, token string) (WebhookInfo, error)
}

// BotInfo is what getMe tells about a bot.
type BotInfo struct {
	ID        int64
	Username  string
	FirstName string
}

// WebhookParams are the setWebhook arguments.
type WebhookParams struct {
	URL            string
	Secret         string
	MaxConnections int
	AllowedUpdates []string
}

// WebhookInfo is the health Telegram reports for a bot's webhook.
type WebhookInfo struct {
	URL                string `json:"url"`
	PendingUpdateCount int    `json:"pending_update_count"`
	LastErrorDate      int64  `json:"last_error_date,omitempty"`
	LastErrorMessage   string `json:"last_error_message,omitempty"`
	MaxConnections     int    `json:"max_connections,omitempty"`
}

// TelegoAPI implements TelegramAPI with telego. It builds a short-lived
// *telego.Bot per call: registry calls are rare admin actions, and not
// keeping bots around means not keeping tokens around. All of them share
// one HTTP client; telego's logger is discarded because its debug output
// carries the token.
type TelegoAPI struct {
	apiURL string
	client *http.Client
}

// NewTelegoAPI returns a TelegramAPI talking to apiURL (Config.TelegramAPIURL)
// over client (nil: a client with a 15 s timeout).
func NewTelegoAPI(apiURL string, client *http.Client) *TelegoAPI {
	if client == nil {
		client = &http.Client{Timeout: defaultTelegramTimeout}
	}
	return &TelegoAPI{apiURL: apiURL, client: client}
}

func (t *TelegoAPI) bot(token string) (*telego.Bot, error) {
	b, err := telego.NewBot(token, telego.WithAPIServer(t.apiURL), telego.WithHTTPClient(t.client),
		telego.WithDiscardLogger())
	if err != nil {
		// telego refuses only malformed tokens here.
		return nil, ErrInvalidTokenFormat
	}
	return b, nil
}

// GetMe validates a token.
func (t *TelegoAPI) GetMe(ctx context.Context, token string) (BotInfo, error) {
	b, err := t.bot(token)
	if err != nil {
		return BotInfo{}, err
	}
	u, err := b.GetMe(ctx)
	if err != nil {
		return BotInfo{}, classify("getMe", err)
	}
	return BotInfo{ID: u.ID, Username: u.Username, FirstName: u.FirstName}, nil
}

// SetWebhook registers the webhook.
func (t *TelegoAPI) SetWebhook(ctx context.Context, token string, w WebhookParams) error {
	b, err := t.bot(token)
	if err != nil {
		return err
	}
	err = b.SetWebhook(ctx, &telego.SetWebhookParams{
		URL: w.URL, SecretToken: w.Secret, MaxConnections: w.MaxConnections, AllowedUpdates: w.AllowedUpdates,
	})
	return classify("setWebhook", err)
}

// DeleteWebhook removes the webhook (pending updates are kept by Telegram).
func (t *TelegoAPI) DeleteWebhook(ctx context.Context, token string) error {
	b, err := t.bot(token)
	if err != nil {
		return err
	}
	return classify("deleteWebhook", b.DeleteWebhook(ctx, &telego.DeleteWebhookParams{}))
}

// GetWebhookInfo reads webhook health.
func (t *TelegoAPI) GetWebhookInfo(ctx context.Context, token string) (WebhookInfo, error) {
	b, err := t.bot(token)
	if err != nil {
		return WebhookInfo{}, err
	}
	info, err := b.GetWebhookInfo(ctx)
	if err != nil {
		return WebhookInfo{}, classify("getWebhookInfo", err)
	}
	return WebhookInfo{
		URL: info.URL, PendingUpdateCount: info.PendingUpdateCount, LastErrorDate: info.LastErrorDate,
		LastErrorMessage: info.LastErrorMessage, MaxConnections: info.MaxConnections,
	}, nil
}

// classify turns a telego error into a registry sentinel. Transport errors
// may quote the request URL, which holds the token, so they are never
// wrapped: only the method name and Telegram's own description survive.
func classify(method string, err error) error {
	if err == nil {
		return nil
	}
	var apiErr *ta.Error
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case http.StatusUnauthorized, http.StatusNotFound:
			return fmt.Errorf("%s: %w", method, ErrTokenRejected)
		case http.StatusTooManyRequests:
			return fmt.Errorf("%s: %w (429)", method, ErrTelegramUnavailable)
		}
		if apiErr.ErrorCode >= 500 {
			return fmt.Errorf("%s: %w (%d)", method, ErrTelegramUnavailable, apiErr.ErrorCode)
		}
		return fmt.Errorf("%s: telegram refused: %d %s", method, apiErr.ErrorCode, apiErr.Description)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w (timeout)", method, ErrTelegramUnavailable)
	}
	return fmt.Errorf("%s: %w", method, ErrTelegramUnavailable)
}
