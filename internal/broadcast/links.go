package broadcast

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
)

// Telegram does not tell a bot that a URL button was pressed. With
// Content.TrackClicks each recipient's URL buttons point at the platform's
// /r/<token> instead, which counts the click on the delivery row and
// answers 302 to the button's URL. The token is the campaign id, the bot
// chat id and the button index, signed (HMAC-SHA256, 12 bytes) so clicks
// cannot be forged for other recipients; it is 59 characters.

// ErrBadLink: a click token that is malformed, forged or unknown.
var ErrBadLink = fmt.Errorf("broadcast: bad link")

const tokenSig = 12

func (s *Service) sign(b []byte) []byte {
	m := hmac.New(sha256.New, s.opts.LinkKey)
	m.Write(b)
	return m.Sum(nil)[:tokenSig]
}

// link is a button's URL for one recipient.
func (s *Service) link(campaignID, botChatID uuid.UUID, button int, raw string, track bool) string {
	if !track || len(s.opts.LinkKey) == 0 || s.opts.PublicURL == "" {
		return raw
	}
	b := make([]byte, 0, 33+tokenSig)
	b = append(b, campaignID[:]...)
	b = append(b, botChatID[:]...)
	b = append(b, byte(button))
	b = append(b, s.sign(b)...)
	return strings.TrimRight(s.opts.PublicURL, "/") + "/r/" + base64.RawURLEncoding.EncodeToString(b)
}

// Click counts a tracked button press and answers the button's URL.
func (s *Service) Click(ctx context.Context, token string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 33+tokenSig || len(s.opts.LinkKey) == 0 || !hmac.Equal(b[33:], s.sign(b[:33])) {
		return "", ErrBadLink
	}
	campaign, _ := uuid.FromBytes(b[:16])
	chat, _ := uuid.FromBytes(b[16:32])
	var u *string
	// Before the tenant is known: one narrow SECURITY DEFINER function.
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT campaign_click($1, $2, $3, $4)`, campaign, chat, int(b[32]), s.clock.Now()).Scan(&u)
	})
	if db.IsNotFound(err) || (err == nil && (u == nil || *u == "")) {
		return "", ErrBadLink
	}
	if err != nil {
		return "", fmt.Errorf("broadcast: click: %w", err)
	}
	return *u, nil
}
