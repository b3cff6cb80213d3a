// Package crypto seals secrets at rest (bot tokens, CRM credentials) with
// AES-256-GCM. Each ciphertext carries the id of the key that sealed it, so
// keys can be rotated: new data is sealed with the current key and old data
// still opens with the earlier keys until it is re-sealed.
package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownKey means the ciphertext names a key the keyring does not hold.
var ErrUnknownKey = errors.New("crypto: unknown key id")

// ErrCorrupt means the ciphertext is malformed or was tampered with.
var ErrCorrupt = errors.New("crypto: ciphertext corrupt or tampered")

// Keyring seals with the current key and opens with any known key.
type Keyring struct {
	currentID string
	aeads     map[string]cipher.AEAD
}

// NewKeyring builds a keyring; current is the key new data is sealed with,
// old holds earlier keys by id.
func NewKeyring(currentID string, current []byte, old map[string][]byte) (*Keyring, error) {
	k := &Keyring{currentID: currentID, aeads: map[string]cipher.AEAD{}}
	add := func(id string, key []byte) error {
		if strings.Contains(id, ":") || id == "" {
			return fmt.Errorf("crypto: bad key id %q", id)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return fmt.Errorf("crypto: key %s: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return fmt.Errorf("crypto: key %s: %w", id, err)
		}
		k.aeads[id] = aead
		return nil
	}
	if len(current) != 32 {
		return nil, errors.New("crypto: the current key must be 32 bytes")
	}
	for id, key := range old {
		if err := add(id, key); err != nil {
			return nil, err
		}
	}
	if err := add(currentID, current); err != nil {
		return nil, err
	}
	return k, nil
}

// CurrentKeyID is the id new ciphertexts carry.
func (k *Keyring) CurrentKeyID() string { return k.currentID }

// Seal encrypts plaintext; aad binds the ciphertext to its owner (for
// example the bot id), so a sealed value copied to another row won't open.
// The result is keyID ":" nonce || ciphertext.
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	aead := k.aeads[k.currentID]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("crypto: nonce: %w", err)
	}
	out := make([]byte, 0, len(k.currentID)+1+len(nonce)+len(plaintext)+aead.Overhead())
	out = append(out, k.currentID...)
	out = append(out, ':')
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plaintext, aad), nil
}

// Open decrypts a value made by Seal with the same aad.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	id, rest, ok := strings.Cut(string(sealed), ":")
	if !ok {
		return nil, ErrCorrupt
	}
	aead, found := k.aeads[id]
	if !found {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKey, id)
	}
	body := []byte(rest)
	if len(body) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrCorrupt
	}
	plain, err := aead.Open(nil, body[:aead.NonceSize()], body[aead.NonceSize():], aad)
	if err != nil {
		return nil, ErrCorrupt
	}
	return plain, nil
}

// KeyID reports which key sealed a value, to find values due for re-sealing.
func KeyID(sealed []byte) string {
	id, _, _ := strings.Cut(string(sealed), ":")
	return id
}

// Equal compares two secrets in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
