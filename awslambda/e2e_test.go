package awslambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/awslambda"
	"github.com/eventdesk/eventdesk/dynamodb"
	"github.com/eventdesk/eventdesk/internal/testenv"
)

// bus stands in for EventBridge: it answers PutEvents (AWS JSON 1.1) and
// keeps the entries. Entries whose detail contains reject are refused one
// by one, as EventBridge does on a partial failure.
type bus struct {
	*httptest.Server
	mu      sync.Mutex
	entries []busEntry
	reject  atomic.Pointer[string]
	calls   atomic.Int64
}

type busEntry struct {
	Source, DetailType, Detail, EventBusName string
	Time                                     float64
}

func newBus(tb testing.TB) *bus {
	tb.Helper()
	b := &bus{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.calls.Add(1)
		if target := r.Header.Get("X-Amz-Target"); target != "AWSEvents.PutEvents" {
			http.Error(w, `{"__type":"UnknownOperationException"}`, http.StatusBadRequest)
			return
		}
		var in struct{ Entries []busEntry }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, `{"__type":"SerializationException"}`, http.StatusBadRequest)
			return
		}
		type resultEntry struct {
			EventID      string `json:"EventId,omitempty"`
			ErrorCode    string `json:"ErrorCode,omitempty"`
			ErrorMessage string `json:"ErrorMessage,omitempty"`
		}
		out := struct {
			FailedEntryCount int
			Entries          []resultEntry
		}{}
		b.mu.Lock()
		for i, e := range in.Entries {
			if rej := b.reject.Load(); rej != nil && strings.Contains(e.Detail, *rej) {
				out.FailedEntryCount++
				out.Entries = append(out.Entries, resultEntry{ErrorCode: "InternalFailure", ErrorMessage: "try again"})
				continue
			}
			b.entries = append(b.entries, e)
			out.Entries = append(out.Entries, resultEntry{EventID: fmt.Sprintf("evb-%d-%d", b.calls.Load(), i)})
		}
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(out)
	}))
	tb.Cleanup(b.Close)
	return b
}

// take returns and forgets the entries put so far.
func (b *bus) take() []busEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.entries
	b.entries = nil
	return out
}

// sqsEvent delivers entries as the projector's queue would, after the
// rule's InputPath "$.detail": each body is the CloudEvent.
func sqsEvent(entries []busEntry, extra ...events.SQSMessage) events.SQSEvent {
	var ev events.SQSEvent
	for i, e := range entries {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("msg-%d-%d", time.Now().UnixNano(), i), ReceiptHandle: "rh", Body: e.Detail,
			EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:projector",
		})
	}
	ev.Records = append(ev.Records, extra...)
	return ev
}

// streamEvent wraps stream records as Lambda delivers them.
func streamEvent(recs []dynamodb.StreamRecord) awslambda.StreamEvent {
	var ev awslambda.StreamEvent
	for _, r := range recs {
		var sr awslambda.StreamRecord
		sr.EventID, sr.EventName = r.EventID, r.EventName
		sr.EventSourceARN = "arn:aws:dynamodb:us-east-1:000000000000:table/events/stream/x"
		sr.DynamoDB.Keys, sr.DynamoDB.NewImage, sr.DynamoDB.SequenceNumber = r.Keys, r.NewImage, r.SequenceNumber
		ev.Records = append(ev.Records, sr)
	}
	return ev
}

// pollEvents reads the stream until it holds want more event records (and
// returns every record read, events or not).
func pollEvents(tb testing.TB, p *dynamodb.StreamPoller, want int) []dynamodb.StreamRecord {
	tb.Helper()
	var recs []dynamodb.StreamRecord
	n := 0
	deadline := time.Now().Add(60 * time.Second)
	for n < want {
		if time.Now().After(deadline) {
			tb.Fatalf("stream: %d event records after 60s, want %d", n, want)
		}
		got, err := p.Poll(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range got {
			if _, ok, _ := dynamodb.EventFromImage(r.NewImage); ok {
				n++
			}
		}
		recs = append(recs, got...)
		if n < want {
			time.Sleep(50 * time.Millisecond)
		}
	}
	return recs
}

func localAWS() aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("eventdesk", "test", "")}
}

// lambdaStack is the deployment under test: DynamoDB Local tables, the bus
// stand-in, and one bootstrap process per function.
type lambdaStack struct {
	db                        *dynamodb.DB
	events                    string
	bus                       *bus
	api, publisher, projector *function
	sentiment, escalation     *function
	token                     string
	read                      string
	slack                     *function
	slackPosts                chan string
	poller                    *dynamodb.StreamPoller
	seq                       atomic.Int64
	// bin and env start more functions (the notification subscribers).
	bin   string
	env   map[string]string
	state string
}

func newLambdaStack(t *testing.T) *lambdaStack {
	t.Helper()
	ctx := context.Background()
	endpoint := testenv.DynamoDB(t)
	db := dynamodb.Open(localAWS(), endpoint)
	suffix := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	s := &lambdaStack{db: db, events: "e2e-events-" + suffix, read: "e2e-read-" + suffix, bus: newBus(t)}
	read, state := s.read, "e2e-state-"+suffix
	if err := db.CreateEventsTable(ctx, s.events); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateReadTable(ctx, read); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateStateTable(ctx, state); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB": endpoint,
		"EVENTDESK_EVENTS_TABLE":    s.events, "EVENTDESK_READ_TABLE": read, "EVENTDESK_STATE_TABLE": state,
		"EVENTDESK_SESSION_KEY":        strings.Repeat("s3cr3t-", 8),
		"EVENTDESK_EVENT_BUS":          "eventdesk-test",
		"AWS_ENDPOINT_URL_EVENTBRIDGE": s.bus.URL,
		// The tests' webhook receivers listen on loopback.
		"EVENTDESK_WEBHOOK_ALLOW_PRIVATE": "true",
	}
	bin := buildBootstrap(t, false)
	s.bin, s.env, s.state = bin, env, state
	tokenFn := startFunction(t, bin, awslambda.RoleToken, env)
	s.api = startFunction(t, bin, awslambda.RoleAPI, env)
	s.publisher = startFunction(t, bin, awslambda.RolePublisher, env)
	s.projector = startFunction(t, bin, awslambda.RoleProjector, env)
	s.sentiment = startFunction(t, bin, awslambda.RoleSentiment, env)
	s.escalation = startFunction(t, bin, awslambda.RoleEscalation, env)
	// Slack's incoming webhook, stood in for by a local server.
	s.slackPosts = make(chan string, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.slackPosts <- string(b)
	}))
	t.Cleanup(hook.Close)
	slackEnv := maps.Clone(env)
	slackEnv["EVENTDESK_SLACK_WEBHOOK_URL"] = hook.URL + "/services/T0/B0/x"
	slackEnv["EVENTDESK_PUBLIC_URL"] = "https://helpdesk.example.com"
	s.slack = startFunction(t, bin, awslambda.RoleSlack, slackEnv)

	// The first admin's token comes from the token function.
	var tok awslambda.TokenResponse
	tokenFn.invokeInto(t, awslambda.TokenRequest{User: "alice", Role: eventdesk.RoleAdmin}, &tok)
	if !strings.HasPrefix(tok.Secret, "edk_") || tok.User != "alice" {
		t.Fatalf("token %+v", tok)
	}
	s.token = tok.Secret
	res := tokenFn.invoke(t, awslambda.TokenRequest{User: "bob", Role: "overlord"})
	if !res.isError || !strings.Contains(string(res.body), "role") {
		t.Fatalf("token with a bad role: %s", res.body)
	}
	var err error
	if s.poller, err = db.StreamPoller(ctx, s.events); err != nil {
		t.Fatal(err)
	}
	return s
}

// http sends one request through API Gateway's event format.
func (s *lambdaStack) http(t *testing.T, method, target string, body any, header map[string]string) (events.APIGatewayV2HTTPResponse, map[string]any) {
	t.Helper()
	path, query, _ := strings.Cut(target, "?")
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: query,
		Headers: map[string]string{"host": "api.example.com", "x-forwarded-proto": "https", "authorization": "Bearer " + s.token},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: fmt.Sprintf("apigw-%d", s.seq.Add(1)), Stage: "$default", DomainName: "api.example.com",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "198.51.100.1"},
		},
	}
	for k, v := range header {
		ev.Headers[k] = v
	}
	if body != nil {
		b, _ := json.Marshal(body)
		ev.Body = string(b)
		ev.Headers["content-type"] = "application/json"
	}
	var res events.APIGatewayV2HTTPResponse
	s.api.invokeInto(t, ev, &res)
	var doc map[string]any
	if strings.Contains(res.Headers["Content-Type"], "json") && res.Body != "" {
		if err := json.Unmarshal([]byte(res.Body), &doc); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, target, res.Body, err)
		}
	}
	return res, doc
}

// fanOut carries the events appended since the last call from the
// stream, through the publisher and the bus, to the projector.
func (s *lambdaStack) fanOut(t *testing.T, want int) []busEntry {
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
	var proj events.SQSEventResponse
	s.projector.invokeInto(t, sqsEvent(entries), &proj)
	if len(proj.BatchItemFailures) > 0 {
		t.Fatalf("projector failures: %+v", proj.BatchItemFailures)
	}
	return entries
}

// TestEndToEnd drives the real bootstrap binary, one process per function,
// through the Lambda Runtime API: a ticket created through an API Gateway
// event lands in DynamoDB Local, its stream record goes through the
// publisher to the bus, the bus's entry through SQS to the projector, and
// the API then serves the ticket from the read model.
func TestEndToEnd(t *testing.T) {
	s := newLambdaStack(t)
	ctx := context.Background()

	res, created := s.http(t, "POST", "/api/v1/tickets", map[string]any{
		"title": "Printer on fire", "description": "It smokes.", "priority": "high", "tags": []string{"hardware"},
	}, map[string]string{"idempotency-key": "create-1"})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, res.Body)
	}
	id, _ := created["id"].(string)
	if !eventdesk.ValidID(id) || res.Headers["Location"] != "/api/v1/tickets/"+id || res.Headers["Etag"] != `"1"` && res.Headers["ETag"] != `"1"` {
		t.Fatalf("create: id %q, headers %v", id, res.Headers)
	}
	// The same request again is replayed, not appended twice.
	res, _ = s.http(t, "POST", "/api/v1/tickets", map[string]any{
		"title": "Printer on fire", "description": "It smokes.", "priority": "high", "tags": []string{"hardware"},
	}, map[string]string{"idempotency-key": "create-1"})
	if res.StatusCode != http.StatusCreated || res.Headers["Idempotent-Replayed"] != "true" {
		t.Fatalf("replay: %d %v %s", res.StatusCode, res.Headers, res.Body)
	}

	// The event is in DynamoDB Local.
	store := s.db.EventStore(s.events, dynamodb.EventStoreOptions{})
	evs, err := store.ReadStream(ctx, eventdesk.TicketStream(id), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != eventdesk.TypeTicketCreated || evs[0].Metadata.Actor != "alice" {
		t.Fatalf("events of the ticket: %+v", evs)
	}

	// Before the projector ran, the read model does not know the ticket.
	if res, _ := s.http(t, "GET", "/api/v1/tickets/"+id, nil, nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET before projection: %d %s", res.StatusCode, res.Body)
	}

	entries := s.fanOut(t, 1)
	e := entries[0]
	if e.Source != "eventdesk" || e.DetailType != eventdesk.TypeTicketCreated || e.EventBusName != "eventdesk-test" {
		t.Fatalf("bus entry %+v", e)
	}
	ce, err := awslambda.ParseMessage(e.Detail)
	if err != nil {
		t.Fatal(err)
	}
	if ce.ID != evs[0].ID || ce.Subject != evs[0].Stream || ce.StreamVersion != 1 || ce.Hash != evs[0].Hash ||
		!ce.Time.Equal(evs[0].RecordedAt) || ce.Actor != "alice" || ce.SpecVersion != "1.0" {
		t.Fatalf("CloudEvent %+v does not match event %+v", ce, evs[0])
	}

	res, got := s.http(t, "GET", "/api/v1/tickets/"+id, nil, nil)
	if res.StatusCode != http.StatusOK || got["title"] != "Printer on fire" || got["status"] != "new" {
		t.Fatalf("GET after projection: %d %s", res.StatusCode, res.Body)
	}
	res, list := s.http(t, "GET", "/api/v1/tickets?status=new&tag=hardware&limit=10", nil, nil)
	if items, _ := list["items"].([]any); res.StatusCode != http.StatusOK || len(items) != 1 {
		t.Fatalf("list: %d %s", res.StatusCode, res.Body)
	}
	res, stats := s.http(t, "GET", "/api/v1/stats", nil, nil)
	if res.StatusCode != http.StatusOK || fmt.Sprint(stats["total"]) != "1" {
		t.Fatalf("stats: %d %s", res.StatusCode, res.Body)
	}
	// The projector keeps the dashboard's read model too.
	today := eventdesk.Day(time.Now())
	dash, err := s.db.Dashboard(s.read).Dashboard(ctx, today.AddDate(0, 0, -1), today.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if created := dash.Days[0].Created + dash.Days[1].Created + dash.Days[2].Created; created != 1 || dash.Backlog[eventdesk.StatusNew] != 1 {
		t.Fatalf("dashboard: %d created, backlog %v", created, dash.Backlog)
	}
	// No changefeed on this deployment: a clear 501, not a hung stream.
	for path, accept := range map[string]string{"/api/v1/events": "application/json", "/api/v1/events/stream": "text/event-stream"} {
		for _, h := range []map[string]string{nil, {"accept": accept}} {
			if res, _ := s.http(t, "GET", path, nil, h); res.StatusCode != http.StatusNotImplemented ||
				!strings.Contains(res.Headers["Content-Type"], "problem+json") {
				t.Errorf("GET %s (%v): %d %s", path, h, res.StatusCode, res.Body)
			}
		}
	}
	// The HTML interface is served by the same function.
	if res, _ := s.http(t, "GET", "/signin", nil, map[string]string{"authorization": ""}); res.StatusCode != http.StatusOK ||
		!strings.HasPrefix(res.Headers["Content-Type"], "text/html") || !strings.Contains(res.Body, "<form") {
		t.Errorf("GET /signin: %d %v", res.StatusCode, res.Headers)
	}
	// Without credentials: 401 problem.
	if res, _ := s.http(t, "GET", "/api/v1/tickets/"+id, nil, map[string]string{"authorization": ""}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous GET: %d", res.StatusCode)
	}

	t.Run("ProjectorPartialBatch", func(t *testing.T) {
		res, _ := s.http(t, "POST", "/api/v1/tickets/"+id+"/comments", map[string]any{"body": "On it."}, nil)
		if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
			t.Fatalf("comment: %d %s", res.StatusCode, res.Body)
		}
		recs := pollEvents(t, s.poller, 1)
		var pub events.DynamoDBEventResponse
		s.publisher.invokeInto(t, streamEvent(recs), &pub)
		entries := s.bus.take()
		if len(pub.BatchItemFailures) > 0 || len(entries) != 1 {
			t.Fatalf("publisher: %+v, %d entries", pub.BatchItemFailures, len(entries))
		}
		missing := fmt.Sprintf(`{"specversion":"1.0","id":"x","source":"eventdesk","type":"ticket.created","subject":"ticket-%s","streamversion":1}`,
			"01950000-0000-7000-8000-0000000000aa")
		batch := sqsEvent(entries,
			events.SQSMessage{MessageId: "poison", Body: "this is not JSON"},
			events.SQSMessage{MessageId: "not-ours", Body: `{"hello":"world"}`},
			events.SQSMessage{MessageId: "missing", Body: missing},
		)
		// The same event twice in one batch, and once more later: at least
		// once delivery is harmless.
		batch.Records = append(batch.Records, events.SQSMessage{MessageId: "dup", Body: entries[0].Detail})
		var proj events.SQSEventResponse
		s.projector.invokeInto(t, batch, &proj)
		var failed []string
		for _, f := range proj.BatchItemFailures {
			failed = append(failed, f.ItemIdentifier)
		}
		slices.Sort(failed)
		if !slices.Equal(failed, []string{"missing", "not-ours", "poison"}) {
			t.Fatalf("batch item failures %v, want missing, not-ours, poison", failed)
		}
		s.projector.invokeInto(t, sqsEvent(entries), &proj)
		if len(proj.BatchItemFailures) > 0 {
			t.Fatalf("redelivery: %+v", proj.BatchItemFailures)
		}
		res, got := s.http(t, "GET", "/api/v1/tickets/"+id, nil, nil)
		comments, _ := got["comments"].([]any)
		if res.StatusCode != http.StatusOK || len(comments) != 1 || fmt.Sprint(got["version"]) != "2" {
			t.Fatalf("after the partial batch: %d %s", res.StatusCode, res.Body)
		}
	})

	t.Run("OutOfOrderAndLate", func(t *testing.T) {
		// Three changes; the projector hears only of the last: it reads
		// the stream and catches up on all three.
		for _, body := range []map[string]any{{"priority": "urgent"}, {"status": "open"}, {"title": "Printer smoking"}} {
			res, _ := s.http(t, "PATCH", "/api/v1/tickets/"+id, body, map[string]string{"if-match": "*"})
			if res.StatusCode != http.StatusOK {
				t.Fatalf("PATCH %v: %d %s", body, res.StatusCode, res.Body)
			}
		}
		recs := pollEvents(t, s.poller, 3)
		var pub events.DynamoDBEventResponse
		s.publisher.invokeInto(t, streamEvent(recs), &pub)
		entries := s.bus.take()
		if len(entries) != 3 {
			t.Fatalf("%d entries", len(entries))
		}
		var proj events.SQSEventResponse
		s.projector.invokeInto(t, sqsEvent(entries[2:]), &proj)
		s.projector.invokeInto(t, sqsEvent(entries[:2]), &proj)
		if len(proj.BatchItemFailures) > 0 {
			t.Fatalf("projector: %+v", proj.BatchItemFailures)
		}
		_, got := s.http(t, "GET", "/api/v1/tickets/"+id, nil, nil)
		if got["title"] != "Printer smoking" || got["status"] != "open" || got["priority"] != "urgent" || fmt.Sprint(got["version"]) != "5" {
			t.Fatalf("after catching up: %v", got)
		}
	})

	t.Run("PublisherPartialBatch", func(t *testing.T) {
		var ids []string
		for _, title := range []string{"first", "reject-me", "third"} {
			res, doc := s.http(t, "POST", "/api/v1/tickets", map[string]any{"title": title}, nil)
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("create %s: %d %s", title, res.StatusCode, res.Body)
			}
			ids = append(ids, doc["id"].(string))
		}
		recs := pollEvents(t, s.poller, 3)
		var eventRecs []dynamodb.StreamRecord
		for _, r := range recs {
			if _, ok, _ := dynamodb.EventFromImage(r.NewImage); ok {
				eventRecs = append(eventRecs, r)
			}
		}
		// The bus refuses the second event (EventBridge judges each entry
		// on its own): the failure names the second record, from which
		// Lambda retries, so the third, accepted now, is published again
		// then (at least once; subscribers de-duplicate).
		reject := "reject-me"
		s.bus.reject.Store(&reject)
		var pub events.DynamoDBEventResponse
		s.publisher.invokeInto(t, streamEvent(recs), &pub)
		if len(pub.BatchItemFailures) != 1 || pub.BatchItemFailures[0].ItemIdentifier != eventRecs[1].SequenceNumber {
			t.Fatalf("publisher failures %+v, want the second event's record %s", pub.BatchItemFailures, eventRecs[1].SequenceNumber)
		}
		if got := s.bus.take(); len(got) != 2 || !strings.Contains(got[0].Detail, ids[0]) || !strings.Contains(got[1].Detail, ids[2]) {
			t.Fatalf("published %d entries, want the first and the third", len(got))
		}
		s.bus.reject.Store(nil)

		// A poison record (an image that is no event) fails alone, after
		// the records before it went out.
		poison := eventRecs[1]
		poison.NewImage = json.RawMessage(`{"kind":{"S":"event"},"stream":{"S":"ticket-x"},"version":{"N":"NaN"}}`)
		poison.SequenceNumber = "poison-seq"
		s.publisher.invokeInto(t, streamEvent([]dynamodb.StreamRecord{eventRecs[1], poison, eventRecs[2]}), &pub)
		if len(pub.BatchItemFailures) != 1 || pub.BatchItemFailures[0].ItemIdentifier != "poison-seq" {
			t.Fatalf("publisher failures %+v, want the poison record", pub.BatchItemFailures)
		}
		if got := s.bus.take(); len(got) != 1 || !strings.Contains(got[0].Detail, ids[1]) {
			t.Fatalf("published %d entries before the poison record, want 1", len(got))
		}
		// Once Lambda gave up on the poison record (on-failure
		// destination), the rest follows.
		s.publisher.invokeInto(t, streamEvent(eventRecs[2:]), &pub)
		if len(pub.BatchItemFailures) != 0 {
			t.Fatalf("publisher failures %+v", pub.BatchItemFailures)
		}
		if got := s.bus.take(); len(got) != 1 || !strings.Contains(got[0].Detail, ids[2]) {
			t.Fatalf("published %d entries after the poison record, want 1", len(got))
		}
	})

	t.Run("SideEffects", func(t *testing.T) {
		// An unhappy requester's ticket: the sentiment subscriber scores it
		// (once, however often the message comes), the score goes round
		// through the stream and the bus, and the escalation policy raises
		// the ticket's priority.
		res, doc := s.http(t, "POST", "/api/v1/tickets", map[string]any{
			"title": "Terrible, awful service", "priority": "normal",
			"description": "This is horrible. I hate it, it is useless and broken, the worst experience ever. Very angry and disappointed!",
		}, nil)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %s", res.StatusCode, res.Body)
		}
		tid := doc["id"].(string)
		stream := eventdesk.TicketStream(tid)
		publish := func(want int) []busEntry {
			t.Helper()
			recs := pollEvents(t, s.poller, want)
			var pub events.DynamoDBEventResponse
			s.publisher.invokeInto(t, streamEvent(recs), &pub)
			if len(pub.BatchItemFailures) > 0 {
				t.Fatalf("publisher failures: %+v", pub.BatchItemFailures)
			}
			return s.bus.take()
		}
		created := publish(1)
		var out events.SQSEventResponse
		for range 2 {
			s.sentiment.invokeInto(t, sqsEvent(append(created, created...)), &out)
			if len(out.BatchItemFailures) > 0 {
				t.Fatalf("sentiment failures: %+v", out.BatchItemFailures)
			}
		}
		evs, err := store.ReadStream(ctx, stream, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[1].Type != eventdesk.TypeSentimentScored {
			t.Fatalf("after scoring (4 deliveries): %d events, want created + one score", len(evs))
		}
		scored := publish(1)
		if len(scored) != 1 || scored[0].DetailType != eventdesk.TypeSentimentScored {
			t.Fatalf("bus entries %+v", scored)
		}
		s.escalation.invokeInto(t, sqsEvent(scored), &out)
		if len(out.BatchItemFailures) > 0 {
			t.Fatalf("escalation failures: %+v", out.BatchItemFailures)
		}
		evs, err = store.ReadStream(ctx, stream, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 3 || evs[2].Type != eventdesk.TypePriorityChanged || !strings.Contains(string(evs[2].Data), `"high"`) {
			t.Fatalf("after escalation: %+v", evs)
		}
		// The subscriber ignores events it does not handle, and fails a
		// poison message alone.
		s.sentiment.invokeInto(t, sqsEvent(scored, events.SQSMessage{MessageId: "poison", Body: "{"}), &out)
		if len(out.BatchItemFailures) != 1 || out.BatchItemFailures[0].ItemIdentifier != "poison" {
			t.Fatalf("sentiment failures %+v, want the poison message only", out.BatchItemFailures)
		}
		s.bus.take()
		// The escalation goes round to the slack subscriber: one post,
		// however often the message comes.
		changed := publish(1)
		for range 2 {
			s.slack.invokeInto(t, sqsEvent(append(changed, changed...)), &out)
			if len(out.BatchItemFailures) > 0 {
				t.Fatalf("slack failures: %+v", out.BatchItemFailures)
			}
		}
		if n := len(s.slackPosts); n != 1 {
			t.Fatalf("%d posts to Slack, want 1", n)
		}
		if post := <-s.slackPosts; !strings.Contains(post, "escalated from normal to high") || !strings.Contains(post, "helpdesk.example.com/tickets/"+tid) {
			t.Errorf("Slack post %s", post)
		}
	})

	// The functions never crashed along the way.
	for name, f := range map[string]*function{"api": s.api, "publisher": s.publisher, "projector": s.projector, "sentiment": s.sentiment, "escalation": s.escalation, "slack": s.slack} {
		select {
		case err := <-f.exited:
			t.Errorf("%s exited: %v\n%s", name, err, f.stderr.String())
			f.exited <- err
		default:
		}
	}
}
