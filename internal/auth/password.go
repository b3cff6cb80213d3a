package auth

import (
	_ "embed"
	"strings"
	"unicode/utf8"
)

// Password rules: at least minPasswordLen characters, not a well-known
// password, not containing the local part of the account's e-mail. Length
// beats composition rules (NIST SP 800-63B); the cap keeps argon2 cheap to
// call with hostile input.
const (
	minPasswordLen = 10
	maxPasswordLen = 256
)

//go:embed common_passwords.txt
var commonPasswordsText string

var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(commonPasswordsText, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			m[line] = true
		}
	}
	return m
}()

// passwordRule is the message shown whenever a password is refused.
const passwordRule = "Use at least 10 characters; not a common password and not containing the name part of your e-mail address. A few unrelated words make a strong one."

// checkPassword returns "" when pw is acceptable, else the error code
// (weak_password or too_long).
func checkPassword(pw, email string) string {
	n := utf8.RuneCountInString(pw)
	if n > maxPasswordLen {
		return "too_long"
	}
	if n < minPasswordLen {
		return "weak_password"
	}
	lower := strings.ToLower(pw)
	if commonPasswords[lower] || allSameRune(lower) {
		return "weak_password"
	}
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	if utf8.RuneCountInString(local) >= 3 && strings.Contains(lower, local) {
		return "weak_password"
	}
	return ""
}

func allSameRune(s string) bool {
	first, _ := utf8.DecodeRuneInString(s)
	for _, r := range s {
		if r != first {
			return false
		}
	}
	return true
}
