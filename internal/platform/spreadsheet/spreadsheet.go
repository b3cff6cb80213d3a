// Package spreadsheet holds what every CSV export needs to be safe to open
// in Excel or LibreOffice.
package spreadsheet

import "strings"

// SafeCell defuses spreadsheet formula injection: text that starts with
// = + - @ tab or CR (a person's answer or Telegram name is theirs to choose)
// is prefixed with an apostrophe, except a plain number such as a phone
// (+7 999 000-11-22), which is no formula.
func SafeCell(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return s
	}
	if strings.Trim(s[1:], "0123456789 ()-") == "" && s[0] != '=' && s[0] != '@' && len(s) > 1 {
		return s
	}
	return "'" + s
}
