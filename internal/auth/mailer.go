package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// Mail is one plain-text e-mail.
type Mail struct {
	To      string
	Subject string
	Body    string
}

// Mailer sends the service's e-mails (invites, password resets).
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// NopMailer drops every e-mail; with it the API still returns invite links.
type NopMailer struct{}

// Send does nothing.
func (NopMailer) Send(context.Context, Mail) error { return nil }

// Enabled reports whether mailer really sends.
func mailerEnabled(m Mailer) bool {
	_, nop := m.(NopMailer)
	return !nop
}

// SMTPMailer sends through one SMTP server with net/smtp: smtp:// uses
// STARTTLS when the server offers it, smtps:// is TLS from the first byte.
type SMTPMailer struct {
	addr     string
	host     string
	implicit bool
	auth     smtp.Auth
	from     string
}

// NewMailer returns an SMTPMailer for an smtp(s):// URL, or NopMailer when
// rawURL is empty.
func NewMailer(rawURL, from string) (Mailer, error) {
	if rawURL == "" {
		return NopMailer{}, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, errors.New("auth: mailer: want smtp://user:pass@host:port")
	}
	if _, err := mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("auth: mailer: bad from address: %w", err)
	}
	m := &SMTPMailer{host: u.Hostname(), implicit: u.Scheme == "smtps", from: from}
	port := u.Port()
	if port == "" {
		port = map[bool]string{true: "465", false: "587"}[m.implicit]
	}
	m.addr = net.JoinHostPort(m.host, port)
	if u.User != nil {
		pw, _ := u.User.Password()
		m.auth = smtp.PlainAuth("", u.User.Username(), pw, m.host)
	}
	return m, nil
}

// Send delivers m.
func (m *SMTPMailer) Send(ctx context.Context, msg Mail) error {
	if strings.ContainsAny(msg.To+msg.Subject, "\r\n") {
		return errors.New("auth: mailer: header injection refused")
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	var err error
	if m.implicit {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: &tls.Config{ServerName: m.host}}).DialContext(ctx, "tcp", m.addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", m.addr)
	}
	if err != nil {
		return fmt.Errorf("auth: mailer: dial: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("auth: mailer: hello: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && !m.implicit {
		if err := c.StartTLS(&tls.Config{ServerName: m.host}); err != nil {
			return fmt.Errorf("auth: mailer: starttls: %w", err)
		}
	}
	if m.auth != nil {
		if err := c.Auth(m.auth); err != nil {
			return fmt.Errorf("auth: mailer: auth: %w", err)
		}
	}
	if err := c.Mail(m.from); err != nil {
		return fmt.Errorf("auth: mailer: from: %w", err)
	}
	if err := c.Rcpt(msg.To); err != nil {
		return fmt.Errorf("auth: mailer: rcpt: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("auth: mailer: data: %w", err)
	}
	// Header values must be ASCII: a Russian subject is RFC 2047-encoded.
	body := "From: " + m.from + "\r\nTo: " + msg.To + "\r\nSubject: " + mime.QEncoding.Encode("utf-8", msg.Subject) +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
		strings.ReplaceAll(msg.Body, "\n", "\r\n")
	if _, err := w.Write([]byte(body)); err != nil {
		return fmt.Errorf("auth: mailer: write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("auth: mailer: send: %w", err)
	}
	return c.Quit()
}
