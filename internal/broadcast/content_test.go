package broadcast

import (
	"strings"
	"testing"
)

// Telegram counts UTF-16 code units of the text after entity parsing.
func TestCheckHTML(t *testing.T) {
	cases := []struct {
		name, in string
		n        int
		problem  bool
	}{
		{"plain", "hello", 5, false},
		{"tags do not count", "<b>hi</b> <a href=\"https://x.y\">there</a>", 8, false},
		{"entities count as one", "a &lt; b &amp;&amp; c", 10, false},
		{"an emoji is two units", "👍", 2, false},
		{"a placeholder counts at its longest", "{first_name}", placeholderWorst, false},
		{"spoiler span", `<span class="tg-spoiler">x</span>`, 1, false},
		{"unclosed", "<b>x", 0, true},
		{"crossed", "<b><i>x</b></i>", 0, true},
		{"unknown tag", "<script>x</script>", 0, true},
		{"bare <", "1 < 2", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, problem := checkHTML(tc.in)
			if (problem != "") != tc.problem || (!tc.problem && n != tc.n) {
				t.Fatalf("checkHTML(%q) = %d, %q", tc.in, n, problem)
			}
		})
	}
}

// Placeholders are filled HTML-escaped, so a name cannot inject markup.
func TestFillEscapes(t *testing.T) {
	got := fill("Hi {first_name} {last_name} (@{username}) {full_name}", Recipient{FirstName: "<b>Eve</b>", LastName: "&Co", Username: "eve"})
	want := "Hi &lt;b&gt;Eve&lt;/b&gt; &amp;Co (@eve) &lt;b&gt;Eve&lt;/b&gt; &amp;Co"
	if got != want {
		t.Fatalf("got %q", got)
	}
}

// A media campaign is the media method with the text as caption; buttons
// and read more make the keyboard.
func TestRender(t *testing.T) {
	c := Content{Text: "Hi {first_name}", FullText: "more", Media: &Media{Kind: "video", FileID: "BAAD"},
		Buttons: []Button{{Text: "Go", URL: "https://x.y"}}}
	method, p := c.render(Recipient{FirstName: "Ann"}, "Read more", "bc:x:m", func(_ int, u string) string { return u + "?t" })
	if method != "sendVideo" || p["video"] != "BAAD" || p["caption"] != "Hi Ann" || p["parse_mode"] != "HTML" {
		t.Fatalf("%s %v", method, p)
	}
	kb := p["reply_markup"].(map[string]any)["inline_keyboard"].([][]map[string]string)
	if len(kb) != 2 || kb[0][0]["url"] != "https://x.y?t" || kb[1][0]["callback_data"] != "bc:x:m" {
		t.Fatalf("keyboard %v", kb)
	}
	if len(readMoreData([16]byte{})) > 64 || !strings.HasPrefix(readMoreData([16]byte{}), CallbackPrefix) {
		t.Fatal("callback data over Telegram's 64 bytes")
	}
}
