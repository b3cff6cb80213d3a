package bots

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tgdesk/helpdesk/internal/platform/db"
)

// Every query here runs inside db.InTenant, so RLS scopes it to the
// caller's tenant; tenant_id is still written explicitly on insert.

type botRow struct {
	ID           int64
	PublicID     string
	Username     string
	Name         string
	Status       string
	Paid         bool
	TokenSealed  []byte
	SecretSealed []byte
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

const botColumns = "id, public_id, username, name, status, paid_broadcast, token_sealed, webhook_secret, created_at, updated_at"

func scanBot(row pgx.Row) (botRow, error) {
	var r botRow
	err := row.Scan(&r.ID, &r.PublicID, &r.Username, &r.Name, &r.Status, &r.Paid, &r.TokenSealed, &r.SecretSealed,
		&r.CreatedAt, &r.UpdatedAt)
	return r, err
}

func insertBot(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, r botRow) error {
	_, err := tx.Exec(ctx, `INSERT INTO bots (id, tenant_id, public_id, username, name, token_sealed, webhook_secret)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.ID, tenantID, r.PublicID, r.Username, r.Name, r.TokenSealed, r.SecretSealed)
	if err != nil {
		return fmt.Errorf("store: insert bot: %w", err)
	}
	return nil
}

func getBot(ctx context.Context, tx pgx.Tx, botID int64) (botRow, error) {
	r, err := scanBot(tx.QueryRow(ctx, "SELECT "+botColumns+" FROM bots WHERE id = $1", botID))
	if db.IsNotFound(err) {
		return botRow{}, ErrNotFound
	}
	if err != nil {
		return botRow{}, fmt.Errorf("store: get bot: %w", err)
	}
	return r, nil
}

func listBots(ctx context.Context, tx pgx.Tx) ([]botRow, error) {
	rows, err := tx.Query(ctx, "SELECT "+botColumns+" FROM bots ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("store: list bots: %w", err)
	}
	defer rows.Close()
	var out []botRow
	for rows.Next() {
		r, err := scanBot(rows)
		if err != nil {
			return nil, fmt.Errorf("store: scan bot: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func updateToken(ctx context.Context, tx pgx.Tx, botID int64, sealed []byte, info BotInfo) error {
	tag, err := tx.Exec(ctx, `UPDATE bots SET token_sealed = $2, username = $3, name = $4, status = 'active',
		updated_at = now() WHERE id = $1`, botID, sealed, info.Username, info.FirstName)
	if err != nil {
		return fmt.Errorf("store: update token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

func deleteBot(ctx context.Context, tx pgx.Tx, botID int64) error {
	tag, err := tx.Exec(ctx, "DELETE FROM bots WHERE id = $1", botID)
	if err != nil {
		return fmt.Errorf("store: delete bot: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

func audit(ctx context.Context, tx pgx.Tx, tenantID, actorID uuid.UUID, action string, botID int64, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	raw, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("store: audit details: %w", err)
	}
	actor := "system"
	if actorID != uuid.Nil {
		actor = "user:" + actorID.String()
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (tenant_id, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)`,
		tenantID, actor, action, "bot:"+strconv.FormatInt(botID, 10), raw)
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// lookupTarget is the webhook path's look-up, before the tenant is known.
func lookupTarget(ctx context.Context, tx pgx.Tx, publicID string) (botID int64, tenantID uuid.UUID, secretSealed []byte, err error) {
	err = tx.QueryRow(ctx, "SELECT bot_id, tenant_id, webhook_secret FROM bot_webhook_target($1)", publicID).
		Scan(&botID, &tenantID, &secretSealed)
	if db.IsNotFound(err) {
		return 0, uuid.Nil, nil, ErrNotFound
	}
	if err != nil {
		return 0, uuid.Nil, nil, fmt.Errorf("store: webhook target: %w", err)
	}
	return botID, tenantID, secretSealed, nil
}

// lookupToken is the outbox's look-up, before the tenant is known.
func lookupToken(ctx context.Context, tx pgx.Tx, botID int64) ([]byte, error) {
	var sealed []byte
	if err := tx.QueryRow(ctx, "SELECT bot_token_sealed($1)", botID).Scan(&sealed); err != nil {
		return nil, fmt.Errorf("store: bot token: %w", err)
	}
	if sealed == nil {
		return nil, ErrNotFound
	}
	return sealed, nil
}
