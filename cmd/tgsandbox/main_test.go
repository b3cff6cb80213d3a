package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a goroutine-safe writer for the server's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestServeSeedsBotsAndAnswers(t *testing.T) {
	const token = "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	cfg, err := parseFlags([]string{"-addr", "127.0.0.1:0", "-bot", token + "=demo_bot", "-no-limits"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	addrCh := make(chan string, 1)
	stop := make(chan struct{})
	cfg.ready = func(a string) { addrCh <- a }
	cfg.shutdownCh = stop
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- serve(cfg, &out, io.Discard) }()
	var addr string
	select {
	case addr = <-addrCh:
	case err := <-done:
		t.Fatalf("serve exited: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("server did not start")
	}
	resp, err := http.Post("http://"+addr+"/bot"+token+"/getMe", "application/json", strings.NewReader("null"))
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		OK     bool `json:"ok"`
		Result struct {
			Username string `json:"username"`
		} `json:"result"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if !env.OK || env.Result.Username != "demo_bot" {
		t.Fatalf("getMe = %+v", env)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !strings.Contains(out.String(), "staff forum") {
		t.Fatalf("seed output missing: %s", out.String())
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{name: "unknown flag", args: []string{"-nope"}, want: 2},
		{name: "bad token", args: []string{"-addr", "127.0.0.1:0", "-bot", "bad"}, want: 1},
		{name: "help", args: []string{"-h"}, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(tc.args, io.Discard, io.Discard); got != tc.want {
				t.Fatalf("run = %d, want %d", got, tc.want)
			}
		})
	}
}
