package audience

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MatchingChats is every chat id of the bot the filter matches, reachable
// or not (the compiled WHERE without the delivery conditions), for tests of
// the filter language.
func (s *Service) MatchingChats(ctx context.Context, tenantID uuid.UUID, botID int64, f Filter) ([]int64, error) {
	q, err := s.prepare(ctx, tenantID, botID, uuid.Nil, &f, "")
	if err != nil {
		return nil, err
	}
	var out []int64
	err = s.db.InTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT bc.chat_id"+audienceFrom+q.where+" ORDER BY bc.chat_id", q.args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	return out, err
}
