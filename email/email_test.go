package email_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	smtpd "github.com/emersion/go-smtp"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/email"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/subscription"
)

// server is a real SMTP server (go-smtp) on a free loopback port that
// keeps what it receives.
type server struct {
	addr string
	pool *x509.CertPool

	mu   sync.Mutex
	msgs []received
}

type received struct {
	From    string
	To      []string
	Data    []byte
	TLS     bool
	AuthAs  string
	Message *mail.Message
}

type session struct {
	s    *server
	conn *smtpd.Conn
	cur  received
	auth bool
	user string
	need bool
}

func (se *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (se *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "mailer" || pass != "s3cret" {
			return errors.New("bad credentials")
		}
		se.auth, se.user = true, user
		return nil
	}), nil
}
func (se *session) Reset()        { se.cur = received{} }
func (se *session) Logout() error { return nil }
func (se *session) Mail(from string, _ *smtpd.MailOptions) error {
	if se.need && !se.auth {
		return smtpd.ErrAuthRequired
	}
	se.cur.From = from
	return nil
}
func (se *session) Rcpt(to string, _ *smtpd.RcptOptions) error {
	se.cur.To = append(se.cur.To, to)
	return nil
}
func (se *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := se.cur
	m.Data = b
	_, m.TLS = se.conn.TLSConnectionState()
	m.AuthAs = se.user
	if m.Message, err = mail.ReadMessage(bytes.NewReader(b)); err != nil {
		return err
	}
	se.s.mu.Lock()
	se.s.msgs = append(se.s.msgs, m)
	se.s.mu.Unlock()
	return nil
}

// newServer starts an SMTP server; secure adds STARTTLS (a self-signed
// certificate for 127.0.0.1) and requires AUTH PLAIN.
func newServer(tb testing.TB, secure bool) *server {
	tb.Helper()
	s := &server{}
	srv := smtpd.NewServer(smtpd.BackendFunc(func(c *smtpd.Conn) (smtpd.Session, error) {
		return &session{s: s, conn: c, need: secure}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if secure {
		cert, pool := selfSigned(tb)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.pool = pool
	} else {
		srv.AllowInsecureAuth = true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { srv.Close() })
	return s
}

func selfSigned(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func (s *server) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

// parts returns the decoded parts of a multipart/alternative message by
// content type.
func parts(tb testing.TB, raw received) map[string]string {
	tb.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw.Data))
	if err != nil {
		tb.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		tb.Fatalf("content type %q: %v", m.Header.Get("Content-Type"), err)
	}
	out := map[string]string{}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out[ct] = string(b)
	}
	return out
}

type prefs map[string]bool

func (p prefs) EmailOptOut(_ context.Context, user string) (bool, error) { return p[user], nil }

type env struct {
	db  *sqlite.DB
	app *app.App
}

var quiet = slog.New(slog.DiscardHandler)

func newEnv(tb testing.TB) *env {
	tb.Helper()
	db, err := sqlite.Open(tb.TempDir(), sqlite.WithLogger(quiet))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	rm, err := db.OpenReadModels(sqlite.ReadModelsOptions{Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	a, err := app.New(app.Config{Store: db, Reader: rm})
	if err != nil {
		tb.Fatal(err)
	}
	return &env{db: db, app: a}
}

func as(name string, role eventdesk.Role) context.Context {
	return eventdesk.NewContextWithActor(context.Background(), eventdesk.Actor{Name: name, Role: role})
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// handleAll runs the notifier over every event of the store.
func (e *env) handleAll(tb testing.TB, n *email.Notifier) {
	tb.Helper()
	evs, err := e.db.ReadAll(context.Background(), 0, 0)
	must(tb, err)
	for _, ev := range evs {
		must(tb, n.Handle(context.Background(), ev))
	}
}

func TestNotifications(t *testing.T) {
	e := newEnv(t)
	srv := newServer(t, false)
	n, err := email.New(email.Config{
		SMTP: email.SMTP{Addr: srv.addr}, From: "Helpdesk <help@example.com>", BaseURL: "https://desk.example.com/",
		Addresses: email.Addresses{Domain: "example.org", Map: map[string]string{"bob": "robert@example.net"}},
		Events:    e.db, Preferences: prefs{"quiet": true}, Logger: quiet,
	})
	must(t, err)
	rita, agent := as("rita", eventdesk.RoleRequester), as("alice", eventdesk.RoleAgent)
	r, err := e.app.CreateTicket.Handle(rita, app.CreateTicket{Title: "Printer on fire", Description: "Smoke everywhere"})
	must(t, err)
	id := r.Ticket.ID
	_, err = e.app.AddComment.Handle(rita, app.AddComment{TicketID: id, Body: "Still smoking"}) // own: nothing
	must(t, err)
	_, err = e.app.AddComment.Handle(agent, app.AddComment{TicketID: id, Body: "internal <b>note</b>", Internal: true}) // nothing
	must(t, err)
	_, err = e.app.AddComment.Handle(agent, app.AddComment{TicketID: id, Body: "On our way <script>alert(1)</script>"}) // rita (and status → open)
	must(t, err)
	bob := "bob"
	_, err = e.app.UpdateTicket.Handle(agent, app.UpdateTicket{ID: id, Edit: eventdesk.EditTicket{Assignee: &bob}}) // bob
	must(t, err)
	resolved := eventdesk.StatusResolved
	_, err = e.app.UpdateTicket.Handle(agent, app.UpdateTicket{ID: id, Edit: eventdesk.EditTicket{Status: &resolved}}) // rita
	must(t, err)
	self := "alice"
	_, err = e.app.UpdateTicket.Handle(agent, app.UpdateTicket{ID: id, Edit: eventdesk.EditTicket{Assignee: &self}}) // self-assigned: nothing
	must(t, err)
	// A requester who opted out, and one whose name is an address.
	q, err := e.app.CreateTicket.Handle(agent, app.CreateTicket{Title: "Quiet", Requester: "quiet"})
	must(t, err)
	_, err = e.app.AddComment.Handle(agent, app.AddComment{TicketID: q.Ticket.ID, Body: "hi"})
	must(t, err)
	m, err := e.app.CreateTicket.Handle(agent, app.CreateTicket{Title: "Mail", Requester: "mo@example.com"})
	must(t, err)
	_, err = e.app.AddComment.Handle(agent, app.AddComment{TicketID: m.Ticket.ID, Body: "hello mo"})
	must(t, err)

	e.handleAll(t, n)
	msgs := srv.messages()
	type want struct{ to, headline string }
	wants := []want{
		{"rita@example.org", "alice replied to your ticket:"},
		{"rita@example.org", "Your ticket is now open (it was new)."},
		{"robert@example.net", "alice assigned a ticket to you."},
		{"rita@example.org", "Your ticket is now resolved (it was open)."},
		{"mo@example.com", "alice replied to your ticket:"},
		{"mo@example.com", "Your ticket is now open (it was new)."},
	}
	if len(msgs) != len(wants) {
		for _, m := range msgs {
			t.Logf("to %v: %s", m.To, m.Message.Header.Get("Subject"))
		}
		t.Fatalf("%d messages, want %d", len(msgs), len(wants))
	}
	for i, w := range wants {
		got := msgs[i]
		if len(got.To) != 1 || got.To[0] != w.to || got.From != "help@example.com" {
			t.Errorf("message %d: from %s to %v, want to %s", i, got.From, got.To, w.to)
		}
		h := got.Message.Header
		if to, _ := h.AddressList("To"); len(to) != 1 || to[0].Address != w.to {
			t.Errorf("message %d: To header %q", i, h.Get("To"))
		}
		if from, _ := h.AddressList("From"); len(from) != 1 || from[0].Name != "Helpdesk" {
			t.Errorf("message %d: From header %q", i, h.Get("From"))
		}
		if !strings.HasPrefix(h.Get("Message-Id"), "<") || !strings.HasSuffix(h.Get("Message-Id"), "@eventdesk>") || h.Get("Date") == "" || h.Get("Mime-Version") != "1.0" {
			t.Errorf("message %d: headers %v", i, h)
		}
		p := parts(t, got)
		if !strings.Contains(p["text/plain"], w.headline) || !strings.Contains(p["text/html"], w.headline) {
			t.Errorf("message %d: want %q in both parts:\n%s\n%s", i, w.headline, p["text/plain"], p["text/html"])
		}
	}
	first := msgs[0]
	if subj := first.Message.Header.Get("Subject"); subj != "[#"+id[len(id)-8:]+"] Printer on fire" {
		t.Errorf("subject %q", subj)
	}
	p := parts(t, first)
	if !strings.Contains(p["text/plain"], "On our way <script>alert(1)</script>") {
		t.Errorf("text part: %s", p["text/plain"])
	}
	if strings.Contains(p["text/html"], "<script>") || !strings.Contains(p["text/html"], "&lt;script&gt;") {
		t.Errorf("html part not escaped: %s", p["text/html"])
	}
	if !strings.Contains(p["text/html"], `href="https://desk.example.com/tickets/`+id+`"`) || !strings.Contains(p["text/plain"], "https://desk.example.com/tickets/"+id) {
		t.Errorf("no link to the ticket:\n%s", p["text/html"])
	}
	for _, m := range msgs {
		if strings.Contains(string(m.Data), "internal") && strings.Contains(string(m.Data), "note") {
			t.Error("an internal note was mailed")
		}
	}
}

func TestStartTLSAndAuth(t *testing.T) {
	e := newEnv(t)
	srv := newServer(t, true)
	cfg := email.Config{
		SMTP: email.SMTP{Addr: srv.addr, Username: "mailer", Password: "s3cret", TLS: &tls.Config{RootCAs: srv.pool}},
		From: "help@example.com", Addresses: email.Addresses{Domain: "example.org"}, Events: e.db, Logger: quiet,
	}
	n, err := email.New(cfg)
	must(t, err)
	r, err := e.app.CreateTicket.Handle(as("rita", eventdesk.RoleRequester), app.CreateTicket{Title: "Hi"})
	must(t, err)
	_, err = e.app.AddComment.Handle(as("alice", eventdesk.RoleAgent), app.AddComment{TicketID: r.Ticket.ID, Body: "hello"})
	must(t, err)
	e.handleAll(t, n)
	msgs := srv.messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	if !msgs[0].TLS || msgs[0].AuthAs != "mailer" {
		t.Errorf("message over TLS %v, authenticated as %q", msgs[0].TLS, msgs[0].AuthAs)
	}

	// Wrong password and an untrusted certificate fail (and are retried
	// by the runner).
	bad := cfg
	bad.SMTP.Password = "nope"
	nb, _ := email.New(bad)
	evs, _ := e.db.ReadStream(context.Background(), eventdesk.TicketStream(r.Ticket.ID), 2, 1)
	if err := nb.Handle(context.Background(), evs[0]); err == nil || !strings.Contains(err.Error(), "auth") {
		t.Errorf("wrong password: %v", err)
	}
	untrusted := cfg
	untrusted.SMTP.TLS = nil
	nu, _ := email.New(untrusted)
	if err := nu.Handle(context.Background(), evs[0]); err == nil || !strings.Contains(err.Error(), "starttls") {
		t.Errorf("untrusted certificate: %v", err)
	}
}

func TestConfig(t *testing.T) {
	e := newEnv(t)
	for _, c := range []email.Config{
		{From: "a@b.c", Events: e.db},
		{SMTP: email.SMTP{Addr: "nohostport"}, From: "a@b.c", Events: e.db},
		{SMTP: email.SMTP{Addr: "h:25"}, From: "not an address", Events: e.db},
		{SMTP: email.SMTP{Addr: "h:25"}, From: "a@b.c"},
	} {
		if _, err := email.New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	m, err := email.ParseAddressMap("ada=ada@example.com, bob = Bob <bob@example.net>")
	if err != nil || m["ada"] != "ada@example.com" || m["bob"] != "bob@example.net" {
		t.Errorf("ParseAddressMap: %v %v", m, err)
	}
	if _, err := email.ParseAddressMap("ada"); err == nil {
		t.Error("a map entry without = accepted")
	}
	a := email.Addresses{Map: m, Domain: "corp.test"}
	for user, want := range map[string]string{"ada": "ada@example.com", "zoe": "zoe@corp.test", "x@y.z": "x@y.z", "bad@": ""} {
		if got, _ := a.Address(user); got != want {
			t.Errorf("Address(%q) = %q, want %q", user, got, want)
		}
	}
	if _, ok := (email.Addresses{}).Address("zoe"); ok {
		t.Error("an address without a domain")
	}
}

func TestThroughTheRunnerOncePerEvent(t *testing.T) {
	e := newEnv(t)
	srv := newServer(t, false)
	n, err := email.New(email.Config{SMTP: email.SMTP{Addr: srv.addr}, From: "help@example.com", Addresses: email.Addresses{Domain: "example.org"}, Events: e.db, Logger: quiet})
	must(t, err)
	dir := t.TempDir()
	st, err := sqlite.OpenSubscriberState(dir, sqlite.SubscriberStateOptions{Logger: quiet})
	must(t, err)
	defer st.Close()
	run := func() {
		r := subscription.NewRunner(e.db, st, subscription.Options{Logger: quiet})
		must(t, r.AddSideEffect(subscription.SideEffect{Name: email.Name, Start: subscription.FromBeginning, Handler: n, Types: email.Types}))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = r.Run(ctx) }()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if s := r.Status()[0]; s.Running && s.Lag == 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		<-done
	}
	r, err := e.app.CreateTicket.Handle(as("rita", eventdesk.RoleRequester), app.CreateTicket{Title: "Hi"})
	must(t, err)
	_, err = e.app.AddComment.Handle(as("alice", eventdesk.RoleAgent), app.AddComment{TicketID: r.Ticket.ID, Body: "hello"})
	must(t, err)
	run()
	run() // a restart sends nothing again
	if got := len(srv.messages()); got != 2 {
		t.Fatalf("%d messages after two runs, want 2", got)
	}
}
