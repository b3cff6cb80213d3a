package crm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tgdesk/helpdesk/internal/crm"
)

// The account budget is shared through Redis: two limiters (two processes)
// on one key draw from one budget, and a request over it waits.
func TestRedisLimiterSharesOneBudget(t *testing.T) {
	a := crm.NewRedisLimiter(env.Redis.Client, 1)
	b := crm.NewRedisLimiter(env.Redis.Client, 1)
	key := "crm:rate:test:" + t.Name()
	if err := a.Wait(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	// The second request of the second must wait about a second: a short
	// deadline ends the wait instead.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := b.Wait(ctx, key); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("over budget: %v", err)
	}
	// Another account is not affected.
	if err := b.Wait(context.Background(), key+":other"); err != nil {
		t.Fatal(err)
	}
}
