package awslambda_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventdesk/eventdesk/awslambda"

	"github.com/eventdesk/eventdesk/internal/smtptest"
)

// receiver is a webhook endpoint: it checks every request's Standard
// Webhooks signature with the secret the API returned, and answers 503
// while down.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	secret   []byte
	down     bool
	attempts []string // webhook-id of every request, in arrival order
	ok       []string // webhook-id of every request answered 2xx
	types    map[string]string
	bad      []string
}

func newReceiver(tb testing.TB) *receiver {
	tb.Helper()
	r := &receiver{types: map[string]string{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		id, ts, sig := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature")
		r.mu.Lock()
		defer r.mu.Unlock()
		mac := hmac.New(sha256.New, r.secret)
		fmt.Fprintf(mac, "%s.%s.", id, ts)
		mac.Write(body)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		sec, err := strconv.ParseInt(ts, 10, 64)
		if !slices.Contains(strings.Fields(sig), want) || err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
			r.bad = append(r.bad, fmt.Sprintf("id %q ts %q sig %q", id, ts, sig))
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		r.attempts = append(r.attempts, id)
		if r.down {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		r.ok = append(r.ok, id)
		var doc struct{ Type string }
		_ = json.Unmarshal(body, &doc)
		r.types[id] = doc.Type
		w.WriteHeader(http.StatusNoContent)
	}))
	tb.Cleanup(r.Close)
	return r
}

func (r *receiver) setDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

func (r *receiver) snapshot() (attempts, ok, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.attempts), slices.Clone(r.ok), slices.Clone(r.bad)
}

// mailbox receives the roles' e-mail: a real SMTP server (smtptest).
type mailbox struct {
	*smtptest.Server
	tb testing.TB
}

func newMailbox(tb testing.TB) *mailbox {
	tb.Helper()
	return &mailbox{Server: smtptest.Start(tb), tb: tb}
}

// received returns the messages so far, parsed, and their recipients.
func (b *mailbox) received() ([]*mail.Message, [][]string) {
	var msgs []*mail.Message
	var to [][]string
	for _, m := range b.Messages() {
		parsed, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			b.tb.Errorf("a message that does not parse: %v", err)
			continue
		}
		msgs, to = append(msgs, parsed), append(to, m.To)
	}
	return msgs, to
}

// publish carries want new events from the stream through the publisher
// and returns the bus's entries.
func (s *lambdaStack) publish(t *testing.T, want int) []busEntry {
	t.Helper()
	recs := pollEvents(t, s.poller, want)
	var pub events.DynamoDBEventResponse
	s.publisher.invokeInto(t, streamEvent(recs), &pub)
	if len(pub.BatchItemFailures) > 0 {
		t.Fatalf("publisher failures: %+v", pub.BatchItemFailures)
	}
	entries := s.bus.take()
	if len(entries) != want {
		t.Fatalf("%d entries on the bus, want %d", len(entries), want)
	}
	return entries
}

// invokeSQS delivers messages to a subscriber function and fails on any
// batch item failure.
func invokeSQS(t *testing.T, f *function, ev events.SQSEvent) {
	t.Helper()
	var out events.SQSEventResponse
	f.invokeInto(t, ev, &out)
	if len(out.BatchItemFailures) > 0 {
		t.Fatalf("batch item failures: %+v\n%s", out.BatchItemFailures, f.stderr.String())
	}
}

func tick() events.SQSEvent {
	return events.SQSEvent{Records: []events.SQSMessage{{MessageId: fmt.Sprintf("tick-%d", time.Now().UnixNano()), Body: awslambda.WebhookTick}}}
}

// TestNotificationsEndToEnd drives the webhook and email functions of the
// real bootstrap through the Lambda Runtime API: an endpoint registered
// through the api function, events from the stream through the publisher
// and the bus to the webhook function, which signs and posts them to a
// local receiver that checks the signature; retries after failures (same
// webhook-id), in order per ticket, a dead letter redriven through the
// API; and e-mail through the email function to a real SMTP server.
func TestNotificationsEndToEnd(t *testing.T) {
	s := newLambdaStack(t)
	hookEnv := maps.Clone(s.env)
	// Short waits so that retries come due within the test.
	hookEnv["EVENTDESK_WEBHOOK_RETRY_SCHEDULE"] = "1s,1s"
	hooks := startFunction(t, s.bin, awslambda.RoleWebhook, hookEnv)
	rcv := newReceiver(t)

	// An admin registers the endpoint; the secret is shown once.
	res, doc := s.http(t, "POST", "/api/v1/webhooks", map[string]any{"url": rcv.URL + "/hook", "eventTypes": []string{}}, nil)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("register webhook: %d %s", res.StatusCode, res.Body)
	}
	hookID, _ := doc["id"].(string)
	secret, _ := doc["secret"].(string)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") || len(key) < 24 {
		t.Fatalf("secret %q: %v", secret, err)
	}
	rcv.mu.Lock()
	rcv.secret = key
	rcv.mu.Unlock()
	if res, list := s.http(t, "GET", "/api/v1/webhooks", nil, nil); res.StatusCode != http.StatusOK || strings.Contains(res.Body, secret) {
		t.Fatalf("list webhooks: %d %s", res.StatusCode, res.Body)
	} else if items, _ := list["items"].([]any); len(items) != 1 {
		t.Fatalf("list webhooks: %s", res.Body)
	}

	// A ticket is created; its event reaches the webhook function four
	// times (twice in a batch, the batch twice): one delivery, signed.
	res, doc = s.http(t, "POST", "/api/v1/tickets", map[string]any{"title": "VPN down", "description": "Since this morning."}, nil)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, res.Body)
	}
	tid := doc["id"].(string)
	created := s.publish(t, 1)
	createdID := mustCloudEvent(t, created[0]).ID
	for range 2 {
		invokeSQS(t, hooks, sqsEvent(append(created, created...)))
	}
	attempts, ok, bad := rcv.snapshot()
	if len(bad) > 0 || !slices.Equal(ok, []string{createdID}) || len(attempts) != 1 {
		t.Fatalf("receiver: ok %v, attempts %v, bad signatures %v; want the created event once", ok, attempts, bad)
	}

	t.Run("RetriesInOrder", func(t *testing.T) {
		// The receiver is down; two changes arrive, the later one first.
		rcv.setDown(true)
		for _, body := range []map[string]any{{"status": "open"}, {"priority": "high"}} {
			if res, _ := s.http(t, "PATCH", "/api/v1/tickets/"+tid, body, map[string]string{"if-match": "*"}); res.StatusCode != http.StatusOK {
				t.Fatalf("PATCH %v: %d %s", body, res.StatusCode, res.Body)
			}
		}
		changes := s.publish(t, 2)
		first, second := mustCloudEvent(t, changes[0]).ID, mustCloudEvent(t, changes[1]).ID
		invokeSQS(t, hooks, sqsEvent(changes[1:]))
		attempts, _, _ := rcv.snapshot()
		// The function read the ticket's stream: the earlier change is
		// tried first, the later waits behind it.
		if got := attempts[1:]; !slices.Equal(got, []string{first}) {
			t.Fatalf("attempts while down: %v, want the first change only", got)
		}
		res, log := s.http(t, "GET", "/api/v1/webhooks/"+hookID+"/deliveries", nil, nil)
		if items, _ := log["items"].([]any); res.StatusCode != http.StatusOK || len(items) != 3 {
			t.Fatalf("delivery log: %d %s", res.StatusCode, res.Body)
		}
		if !strings.Contains(res.Body, `"lastStatusCode":503`) {
			t.Errorf("delivery log lacks the failed attempt: %s", res.Body)
		}
		rcv.setDown(false)
		invokeSQS(t, hooks, sqsEvent(changes[:1])) // late; nothing is due yet
		time.Sleep(1500 * time.Millisecond)        // the backoff (1s ± 20%)
		invokeSQS(t, hooks, tick())
		attempts, ok, bad := rcv.snapshot()
		if len(bad) > 0 || !slices.Equal(ok, []string{createdID, first, second}) {
			t.Fatalf("delivered %v (bad %v), want created, first, second in order", ok, bad)
		}
		// Retried with the same webhook-id: received more than once, once
		// successfully per event.
		if n := strings.Count(strings.Join(attempts, " "), first); n < 2 {
			t.Errorf("first change attempted %d times, want a failure then a success", n)
		}
	})

	t.Run("DeadLetterRedrive", func(t *testing.T) {
		rcv.setDown(true)
		if res, _ := s.http(t, "POST", "/api/v1/tickets/"+tid+"/comments", map[string]any{"body": "Rebooted the router."}, nil); res.StatusCode != http.StatusCreated {
			t.Fatalf("comment: %d %s", res.StatusCode, res.Body)
		}
		commented := s.publish(t, 1)
		cid := mustCloudEvent(t, commented[0]).ID
		invokeSQS(t, hooks, sqsEvent(commented))
		for range 2 { // the schedule's two retries
			time.Sleep(1500 * time.Millisecond)
			invokeSQS(t, hooks, tick())
		}
		res, doc := s.http(t, "GET", "/api/v1/deadletters?subscriber=webhook:", nil, nil)
		items, _ := doc["items"].([]any)
		if res.StatusCode != http.StatusOK || len(items) != 1 || !strings.Contains(res.Body, cid) || !strings.Contains(res.Body, `"attempts":3`) {
			t.Fatalf("dead letters: %d %s", res.StatusCode, res.Body)
		}
		letter := items[0].(map[string]any)
		rcv.setDown(false)
		res, _ = s.http(t, "POST", fmt.Sprintf("/api/v1/deadletters/%v/redrive", letter["id"]), nil, nil)
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("redrive: %d %s", res.StatusCode, res.Body)
		}
		invokeSQS(t, hooks, tick())
		if _, ok, _ := rcv.snapshot(); ok[len(ok)-1] != cid {
			t.Fatalf("delivered %v, want the redriven comment last", ok)
		}
		if res, doc := s.http(t, "GET", "/api/v1/deadletters", nil, nil); res.StatusCode != http.StatusOK || len(doc["items"].([]any)) != 0 {
			t.Fatalf("dead letters after the redrive: %s", res.Body)
		}
		if res, _ := s.http(t, "POST", "/api/v1/deadletters/999999/redrive", nil, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("redrive of an unknown letter: %d %s", res.StatusCode, res.Body)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		if res, _ := s.http(t, "DELETE", "/api/v1/webhooks/"+hookID, nil, nil); res.StatusCode != http.StatusNoContent {
			t.Fatalf("delete: %d %s", res.StatusCode, res.Body)
		}
		if res, _ := s.http(t, "GET", "/api/v1/webhooks/"+hookID, nil, nil); res.StatusCode != http.StatusNotFound {
			t.Fatalf("GET after delete: %d", res.StatusCode)
		}
		if res, _ := s.http(t, "PATCH", "/api/v1/tickets/"+tid, map[string]any{"title": "VPN flaky"}, map[string]string{"if-match": "*"}); res.StatusCode != http.StatusOK {
			t.Fatalf("PATCH: %d %s", res.StatusCode, res.Body)
		}
		_, before, _ := rcv.snapshot()
		invokeSQS(t, hooks, sqsEvent(s.publish(t, 1)))
		if _, after, _ := rcv.snapshot(); len(after) != len(before) {
			t.Fatalf("a deleted endpoint received %v", after[len(before):])
		}
	})

	t.Run("Email", func(t *testing.T) {
		box := newMailbox(t)
		mailEnv := maps.Clone(s.env)
		mailEnv["EVENTDESK_SMTP_URL"] = "smtp://" + box.Addr
		mailEnv["EVENTDESK_EMAIL_DOMAIN"] = "example.com"
		mailEnv["EVENTDESK_EMAIL_FROM"] = "Helpdesk <helpdesk@example.com>"
		mailEnv["EVENTDESK_PUBLIC_URL"] = "https://helpdesk.example.com"
		mailer := startFunction(t, s.bin, awslambda.RoleEmail, mailEnv)

		// An agent answers alice's ticket publicly: alice gets one e-mail,
		// however often the event comes.
		res, tok := s.http(t, "POST", "/api/v1/tokens", map[string]any{"user": "bob", "role": "agent"}, nil)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("token for bob: %d %s", res.StatusCode, res.Body)
		}
		bob := map[string]string{"authorization": "Bearer " + tok["token"].(string)}
		if res, _ := s.http(t, "POST", "/api/v1/tickets/"+tid+"/comments", map[string]any{"body": "Please try again now."}, bob); res.StatusCode != http.StatusCreated {
			t.Fatalf("bob's comment: %d %s", res.StatusCode, res.Body)
		}
		commented := s.publish(t, 1)
		for range 2 {
			invokeSQS(t, mailer, sqsEvent(append(commented, commented...)))
		}
		msgs, to := box.received()
		if len(msgs) != 1 || !slices.Equal(to[0], []string{"alice@example.com"}) {
			t.Fatalf("%d messages (to %v), want one to alice@example.com", len(msgs), to)
		}
		raw, _ := io.ReadAll(msgs[0].Body)
		// Quoted-printable: soft line breaks out.
		body := strings.NewReplacer("=\r\n", "", "=\n", "").Replace(string(raw))
		if !strings.Contains(body, "Please try again now.") || !strings.Contains(body, "helpdesk.example.com/tickets/"+tid) {
			t.Errorf("message body %s", body)
		}
		// alice opts out (her preference, in the state table): bob's
		// status change sends her nothing.
		if res, _ := s.http(t, "PUT", "/api/v1/me/notifications", map[string]any{"email": false}, nil); res.StatusCode != http.StatusOK {
			t.Fatalf("opt out: %d %s", res.StatusCode, res.Body)
		}
		if res, _ := s.http(t, "PATCH", "/api/v1/tickets/"+tid, map[string]any{"status": "pending"}, map[string]string{"if-match": "*", "authorization": bob["authorization"]}); res.StatusCode != http.StatusOK {
			t.Fatalf("bob's status change: %d %s", res.StatusCode, res.Body)
		}
		invokeSQS(t, mailer, sqsEvent(s.publish(t, 1)))
		if msgs, _ := box.received(); len(msgs) != 1 {
			t.Fatalf("%d messages after alice opted out, want still 1", len(msgs))
		}
	})

	for name, f := range map[string]*function{"api": s.api, "publisher": s.publisher, "webhook": hooks} {
		select {
		case err := <-f.exited:
			t.Errorf("%s exited: %v\n%s", name, err, f.stderr.String())
			f.exited <- err
		default:
		}
	}
}

func mustCloudEvent(t *testing.T, e busEntry) awslambda.CloudEvent {
	t.Helper()
	ce, err := awslambda.ParseMessage(e.Detail)
	if err != nil {
		t.Fatal(err)
	}
	return ce
}
