package tgsandbox

import "net/http"

// Areas still being built answer 404 until their files land.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, rest string) { http.NotFound(w, r) }
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request, rest string) {
	http.NotFound(w, r)
}
func (s *Server) serveWeb(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
func (s *Server) addMediaMethods(add func(string, methodFunc))    {}
func (s *Server) addChatMethods(add func(string, methodFunc))     {}
func (s *Server) addForumMethods(add func(string, methodFunc))    {}
func (s *Server) attachMediaLocked(tg *tgMessage, m *Media) error { return nil }
