// Package ids makes identifiers and opaque random tokens.
package ids

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"

	"github.com/google/uuid"
)

// New returns a time-ordered UUIDv7, which keeps B-tree inserts local.
func New() uuid.UUID {
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 fails only when the system random source fails, which
		// leaves nothing sensible to do.
		panic("ids: random source failed: " + err.Error())
	}
	return id
}

// Token returns n random bytes as unpadded URL-safe base64; it is safe for
// URLs, Telegram's secret_token and deep-link payloads ([A-Za-z0-9_-]).
func Token(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("ids: random source failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Hash returns the SHA-256 of a token; tokens are stored only as hashes.
func Hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
