// Package smtptest runs a real SMTP server (go-smtp) on loopback for the
// tests of the binaries that send e-mail: no TLS, no authentication; it
// keeps every message it accepts, with its recipients. Package email's own
// tests, which exercise STARTTLS and authentication, run their own.
//
// It imports the standard library and go-smtp only.
package smtptest

import (
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	smtpd "github.com/emersion/go-smtp"
)

// Message is one message as the server received it.
type Message struct {
	// To are the envelope recipients.
	To []string
	// Data is the message, headers and body, as sent.
	Data []byte
}

// Server is a running SMTP server; the test's cleanup stops it.
type Server struct {
	// Addr is host:port to send to.
	Addr string

	mu   sync.Mutex
	msgs []Message
}

// Start starts a server on a free loopback port until tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{}
	srv := smtpd.NewServer(smtpd.BackendFunc(func(*smtpd.Conn) (smtpd.Session, error) { return &session{server: s}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.Addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return s
}

// Messages returns the messages received so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// session is one SMTP conversation.
type session struct {
	server *Server
	to     []string
}

func (s *session) Reset()                                { s.to = nil }
func (s *session) Logout() error                         { return nil }
func (s *session) Mail(string, *smtpd.MailOptions) error { return nil }
func (s *session) Rcpt(to string, _ *smtpd.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.server.mu.Lock()
	s.server.msgs = append(s.server.msgs, Message{To: slices.Clone(s.to), Data: b})
	s.server.mu.Unlock()
	return nil
}
