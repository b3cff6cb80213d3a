package crypto

import (
	"bytes"
	"errors"
	"testing"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestSealOpenRotation(t *testing.T) {
	old, err := NewKeyring("k1", key(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := old.Seal([]byte("123:secret"), []byte("bot:123"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("plaintext visible in ciphertext")
	}
	rotated, err := NewKeyring("k2", key(2), map[string][]byte{"k1": key(1)})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := rotated.Open(sealed, []byte("bot:123"))
	if err != nil || string(plain) != "123:secret" {
		t.Fatalf("old ciphertext after rotation: %q, %v", plain, err)
	}
	resealed, _ := rotated.Seal(plain, []byte("bot:123"))
	if KeyID(resealed) != "k2" || KeyID(sealed) != "k1" {
		t.Fatalf("key ids: %s %s", KeyID(sealed), KeyID(resealed))
	}
	withoutOld, _ := NewKeyring("k2", key(2), nil)
	if _, err := withoutOld.Open(sealed, []byte("bot:123")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("want ErrUnknownKey, got %v", err)
	}
}

func TestOpenRefusesTamperingAndWrongOwner(t *testing.T) {
	k, _ := NewKeyring("k1", key(1), nil)
	sealed, _ := k.Seal([]byte("token"), []byte("bot:1"))
	tests := []struct {
		name   string
		sealed []byte
		aad    string
	}{
		{"other owner", sealed, "bot:2"},
		{"flipped bit", append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1), "bot:1"},
		{"truncated", sealed[:6], "bot:1"},
		{"no key id", []byte("garbage"), "bot:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := k.Open(tc.sealed, []byte(tc.aad)); err == nil {
				t.Fatal("opened a bad ciphertext")
			}
		})
	}
}

func TestPasswordHash(t *testing.T) {
	p := PasswordParams{Time: 1, MemoryKiB: 1024, Threads: 1}
	h, err := HashPassword(p, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPassword(h, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if err := CheckPassword(h, "wrong"); !errors.Is(err, ErrPasswordMismatch) {
		t.Fatalf("wrong password: %v", err)
	}
	h2, _ := HashPassword(p, "correct horse battery")
	if h == h2 {
		t.Fatal("hashes are not salted")
	}
	if err := CheckPassword("$2a$10$bcrypt", "x"); err == nil {
		t.Fatal("accepted a non-argon2id hash")
	}
}
