package tgsandbox

import "net/http"

// Areas still being built answer 404 until their files land.
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request, rest string) {
	http.NotFound(w, r)
}
func (s *Server) serveWeb(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
