package tgsandbox

import (
	"embed"
	"net/http"
)

//go:embed web/index.html
var webFS embed.FS

// serveWeb serves the single-page UI; everything else is 404.
func (s *Server) serveWeb(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/index.html" {
		http.NotFound(w, r)
		return
	}
	page, err := webFS.ReadFile("web/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(page)
}
