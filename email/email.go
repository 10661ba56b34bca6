// Package email notifies people about their tickets by e-mail over SMTP.
// Notifier is a side-effect subscriber: it sends
//
//   - the requester a message when the status of their ticket changes or
//     someone else comments publicly on it (never for their own change or
//     comment, never for internal notes);
//   - the assignee a message when a ticket is assigned to them (by
//     someone else).
//
// Each message has a plain-text and an HTML part, rendered from embedded
// templates (text/template and html/template, parsed once at start, so a
// broken template fails startup). Its Message-ID is derived from the event
// id, so that a message sent again after a crash (delivery is at least
// once) is recognizably the same message. A user who opted out
// (Preferences) gets nothing.
//
// Addresses: a user name that is an e-mail address is used as is;
// otherwise Addresses.Map is asked, then "name@" + Addresses.Domain; a user
// with none of these gets no e-mail (logged at debug level).
//
// SMTP: STARTTLS is used whenever the server offers it (verifying its
// certificate), and AUTH PLAIN when a user name is configured; credentials
// are never sent over an unencrypted connection except to localhost
// (net/smtp's rule).
//
// The package imports the root package and the standard library.
package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/eventdesk/eventdesk"
)

// Name is the subscriber name of the Notifier.
const Name = "email"

// Types are the event types the Notifier reads.
var Types = []string{eventdesk.TypeStatusChanged, eventdesk.TypeTicketCommented, eventdesk.TypeTicketAssigned}

//go:embed templates/notification.txt templates/notification.html
var templateFiles embed.FS

// Preferences tells whether a user turned e-mail off.
type Preferences interface {
	EmailOptOut(ctx context.Context, user string) (bool, error)
}

// StreamReader reads a ticket's events; eventdesk.EventStore is one.
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, fromVersion int64, limit int) ([]eventdesk.Event, error)
}

// SMTP is how to reach the mail server.
type SMTP struct {
	// Addr is host:port (587 for submission with STARTTLS, 25 for relay).
	Addr string
	// Username and Password, if Username is set, authenticate with AUTH
	// PLAIN.
	Username, Password string
	// TLS configures STARTTLS (nil: the system's roots, ServerName from
	// Addr).
	TLS *tls.Config
	// HelloName is sent in EHLO (default "localhost").
	HelloName string
	// Timeout bounds one message's whole conversation (default 30s).
	Timeout time.Duration
}

// Addresses maps user names to e-mail addresses.
type Addresses struct {
	// Map takes precedence for the names it has.
	Map map[string]string
	// Domain, if set, gives every other user name@Domain.
	Domain string
}

// Address returns the e-mail address of user, or ok false.
func (a Addresses) Address(user string) (string, bool) {
	if strings.Contains(user, "@") {
		if addr, err := mail.ParseAddress(user); err == nil {
			return addr.Address, true
		}
		return "", false
	}
	if v, ok := a.Map[user]; ok {
		return v, v != ""
	}
	if a.Domain != "" {
		if addr, err := mail.ParseAddress(user + "@" + a.Domain); err == nil {
			return addr.Address, true
		}
	}
	return "", false
}

// ParseAddressMap parses "name=address,name=address" (the form of the
// command line), checking every address.
func ParseAddressMap(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		name, addr, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("email: %q: want name=address", kv)
		}
		a, err := mail.ParseAddress(strings.TrimSpace(addr))
		if err != nil {
			return nil, fmt.Errorf("email: address of %s: %w", name, err)
		}
		out[strings.TrimSpace(name)] = a.Address
	}
	return out, nil
}

// Config configures a Notifier. SMTP.Addr, From and Events are required.
type Config struct {
	SMTP SMTP
	// From is the sender, e.g. "eventdesk <helpdesk@example.com>".
	From      string
	Addresses Addresses
	// BaseURL, if set, links each message to the ticket
	// (BaseURL + "/tickets/" + id).
	BaseURL     string
	Preferences Preferences
	Events      StreamReader
	Logger      *slog.Logger
	Now         func() time.Time
}

// Notifier is the e-mail subscriber.
type Notifier struct {
	cfg  Config
	from *mail.Address
	text *texttemplate.Template
	html *htmltemplate.Template
	log  *slog.Logger
}

// New returns a notifier; it fails on a bad configuration or template.
func New(cfg Config) (*Notifier, error) {
	if cfg.SMTP.Addr == "" || cfg.Events == nil {
		return nil, errors.New("email: a notifier needs an SMTP address and the event store")
	}
	if _, _, err := net.SplitHostPort(cfg.SMTP.Addr); err != nil {
		return nil, fmt.Errorf("email: SMTP address %q: want host:port", cfg.SMTP.Addr)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("email: sender %q: %w", cfg.From, err)
	}
	if cfg.SMTP.HelloName == "" {
		cfg.SMTP.HelloName = "localhost"
	}
	if cfg.SMTP.Timeout <= 0 {
		cfg.SMTP.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	text, err := texttemplate.New("").Option("missingkey=error").ParseFS(templateFiles, "templates/notification.txt")
	if err != nil {
		return nil, fmt.Errorf("email: templates: %w", err)
	}
	html, err := htmltemplate.New("").Option("missingkey=error").ParseFS(templateFiles, "templates/notification.html")
	if err != nil {
		return nil, fmt.Errorf("email: templates: %w", err)
	}
	if text.Lookup("text") == nil || html.Lookup("html") == nil {
		return nil, errors.New("email: templates: text or html is not defined")
	}
	return &Notifier{cfg: cfg, from: from, text: text, html: html, log: cfg.Logger}, nil
}

// view is what the templates see.
type view struct {
	Recipient, Subject, Headline, Body string
	Title, Link, Why                   string
	Status, Priority                   string
}

// notice is one message to send.
type notice struct {
	to   string // user name
	view view
}

// Handle sends the e-mails that e calls for.
func (n *Notifier) Handle(ctx context.Context, e eventdesk.Event) error {
	id, ok := eventdesk.TicketIDFromStream(e.Stream)
	if !ok {
		return nil
	}
	p, err := eventdesk.Decode(e)
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	switch v := p.(type) {
	case eventdesk.TicketCommented:
		if v.Internal {
			return nil
		}
	case eventdesk.StatusChanged, eventdesk.TicketAssigned:
	default:
		return nil
	}
	events, err := n.cfg.Events.ReadStream(ctx, e.Stream, 1, int(e.Version))
	if err != nil {
		return fmt.Errorf("email: read %s: %w", e.Stream, err)
	}
	t, err := eventdesk.Fold(events)
	if err != nil {
		return fmt.Errorf("email: fold %s: %w", e.Stream, err)
	}
	actor := e.Metadata.Actor
	var nt notice
	switch v := p.(type) {
	case eventdesk.TicketCommented:
		if v.Author == t.Requester {
			return nil
		}
		nt = notice{to: t.Requester, view: view{Headline: v.Author + " replied to your ticket:", Body: v.Body, Why: "opened this ticket"}}
	case eventdesk.StatusChanged:
		if actor == t.Requester {
			return nil
		}
		nt = notice{to: t.Requester, view: view{Headline: fmt.Sprintf("Your ticket is now %s (it was %s).", v.To, v.From), Why: "opened this ticket"}}
	case eventdesk.TicketAssigned:
		if actor == v.Assignee {
			return nil
		}
		by := actor
		if by == "" || strings.HasPrefix(by, "policy:") {
			by = "eventdesk"
		}
		nt = notice{to: v.Assignee, view: view{Headline: by + " assigned a ticket to you.", Body: t.Description, Why: "were assigned this ticket"}}
	}
	return n.send(ctx, e, id, t, nt)
}

func (n *Notifier) send(ctx context.Context, e eventdesk.Event, ticketID string, t eventdesk.Ticket, nt notice) error {
	if strings.HasPrefix(nt.to, "policy:") || nt.to == "" {
		return nil
	}
	if n.cfg.Preferences != nil {
		off, err := n.cfg.Preferences.EmailOptOut(ctx, nt.to)
		if err != nil {
			return fmt.Errorf("email: preferences of %s: %w", nt.to, err)
		}
		if off {
			n.log.DebugContext(ctx, "email: recipient opted out", "user", nt.to, "event", e.ID)
			return nil
		}
	}
	addr, ok := n.cfg.Addresses.Address(nt.to)
	if !ok {
		n.log.DebugContext(ctx, "email: no address for user", "user", nt.to, "event", e.ID)
		return nil
	}
	v := nt.view
	v.Recipient, v.Title, v.Status, v.Priority = nt.to, t.Title, string(t.Status), string(t.Priority)
	if n.cfg.BaseURL != "" {
		v.Link = n.cfg.BaseURL + "/tickets/" + ticketID
	}
	v.Subject = fmt.Sprintf("[#%s] %s", ticketID[len(ticketID)-8:], t.Title)
	msg, err := n.compose(e, ticketID, addr, v)
	if err != nil {
		return err
	}
	if err := n.deliver(ctx, addr, msg); err != nil {
		return fmt.Errorf("email: send to %s for event %s: %w", nt.to, e.ID, err)
	}
	n.log.InfoContext(ctx, "email: sent", "user", nt.to, "event", e.ID, "type", e.Type)
	return nil
}

// compose renders the MIME message: multipart/alternative, text then HTML,
// both quoted-printable.
func (n *Notifier) compose(e eventdesk.Event, ticketID, to string, v view) ([]byte, error) {
	var text, html bytes.Buffer
	if err := n.text.ExecuteTemplate(&text, "text", v); err != nil {
		return nil, fmt.Errorf("email: render text: %w", err)
	}
	if err := n.html.ExecuteTemplate(&html, "html", v); err != nil {
		return nil, fmt.Errorf("email: render html: %w", err)
	}
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	boundary := "eventdesk-" + hex.EncodeToString(rnd[:])
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", n.from.String())
	h("To", (&mail.Address{Address: to}).String())
	h("Subject", mime.QEncoding.Encode("utf-8", oneLine(v.Subject)))
	h("Date", n.cfg.Now().UTC().Format(time.RFC1123Z))
	// Stable ids: a message sent twice (at least once) is the same one,
	// and every message about a ticket is in one thread.
	h("Message-ID", "<"+e.ID+"@eventdesk>")
	h("In-Reply-To", "<ticket-"+ticketID+"@eventdesk>")
	h("References", "<ticket-"+ticketID+"@eventdesk>")
	h("Auto-Submitted", "auto-generated")
	h("MIME-Version", "1.0")
	h("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	for _, part := range []struct {
		typ  string
		body []byte
	}{{"text/plain", text.Bytes()}, {"text/html", html.Bytes()}} {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary, part.typ)
		qp := quotedprintable.NewWriter(&b)
		if _, err := qp.Write(crlf(part.body)); err != nil {
			return nil, fmt.Errorf("email: encode: %w", err)
		}
		if err := qp.Close(); err != nil {
			return nil, fmt.Errorf("email: encode: %w", err)
		}
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes(), nil
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// crlf turns bare line feeds into CRLF, as SMTP wants.
func crlf(b []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

// deliver runs one SMTP conversation.
func (n *Notifier) deliver(ctx context.Context, to string, msg []byte) error {
	c := n.cfg.SMTP
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	host, _, _ := net.SplitHostPort(c.Addr)
	cl, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Hello(c.HelloName); err != nil {
		return err
	}
	if ok, _ := cl.Extension("STARTTLS"); ok {
		cfg := c.TLS.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		if err := cl.StartTLS(cfg); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if c.Username != "" {
		if ok, _ := cl.Extension("AUTH"); !ok {
			return errors.New("the server offers no AUTH, but a user name is configured")
		}
		if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := cl.Mail(n.from.Address); err != nil {
		return err
	}
	if err := cl.Rcpt(to); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, bytes.NewReader(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	// The message was accepted at the end of DATA; QUIT is a courtesy.
	_ = cl.Quit()
	return nil
}
