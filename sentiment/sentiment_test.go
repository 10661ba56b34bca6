package sentiment_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/eventdesk/eventdesk/sentiment"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/subscription"
)

var analyzer = sync.OnceValue(sentiment.NewAnalyzer)

var quiet = slog.New(slog.DiscardHandler)

func TestAnalyzerMatchesVADER(t *testing.T) {
	// Compound scores published with the reference implementation
	// (vaderSentiment's README examples).
	cases := []struct {
		text string
		want float64
	}{
		{"VADER is smart, handsome, and funny.", 0.8316},
		{"VADER is smart, handsome, and funny!", 0.8439},
		{"VADER is very smart, handsome, and funny.", 0.8545},
		{"VADER is VERY SMART, handsome, and FUNNY.", 0.9227},
		{"VADER is VERY SMART, handsome, and FUNNY!!!", 0.9342},
		{"VADER is not smart, handsome, nor funny.", -0.7424},
		{"The book was good.", 0.4404},
		{"The book was kind of good.", 0.3832},
		{"The plot was good, but the characters are uncompelling and the dialog is not great.", -0.7042},
		{"Today SUX!", -0.5461},
		{"Today only kinda sux! But I'll get by, lol", 0.5249},
		{"Make sure you :) or :D today!", 0.8633},
		{"A really bad, horrible book.", -0.8211},
	}
	a := analyzer()
	for _, c := range cases {
		got := a.Score(c.text)
		if math.Abs(got.Compound-c.want) > 0.0001 {
			t.Errorf("Score(%q).Compound = %.4f, want %.4f", c.text, got.Compound, c.want)
		}
		if got.Label != sentiment.Label(c.want) {
			t.Errorf("Score(%q).Label = %q, want %q", c.text, got.Label, sentiment.Label(c.want))
		}
	}
}

func TestAnalyzerEdges(t *testing.T) {
	a := analyzer()
	for _, text := range []string{"", "   \n\t", "ticket 1234", "😀", "\xff\xfe", strings.Repeat("terrible awful ", 10000)} {
		s := a.Score(text)
		if s.Compound < -1 || s.Compound > 1 || math.IsNaN(s.Compound) {
			t.Errorf("Score(%.20q) = %v: out of range", text, s.Compound)
		}
		switch s.Label {
		case sentiment.LabelNegative, sentiment.LabelNeutral, sentiment.LabelPositive:
		default:
			t.Errorf("Score(%.20q).Label = %q", text, s.Label)
		}
	}
	if s := a.Score(""); s.Label != sentiment.LabelNeutral || s.Compound != 0 {
		t.Errorf("empty text: %+v", s)
	}
	if s := a.Score(strings.Repeat("This is the worst, most useless service ever. ", 2000)); s.Label != sentiment.LabelNegative {
		t.Errorf("long negative text: %+v", s)
	}
}

func TestAnalyzerConcurrent(t *testing.T) {
	a := analyzer()
	want := a.Score("I am furious, this is broken again!").Compound
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if got := a.Score("I am furious, this is broken again!").Compound; got != want {
					t.Errorf("concurrent score %v, want %v", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkScore(b *testing.B) {
	a := analyzer()
	for _, n := range []int{1, 10, 100} {
		text := strings.Repeat("I have waited three days and the export is still broken, which is really frustrating. ", n)
		b.Run(fmt.Sprintf("%dB", len(text)), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				a.Score(text)
			}
		})
	}
}

// env is a real data directory with the application and a runner running
// the ticket projection and both sentiment subscribers.
type env struct {
	db     *sqlite.DB
	rm     *sqlite.ReadModels
	state  *sqlite.SubscriberState
	app    *app.App
	runner *subscription.Runner
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	dir := tb.TempDir()
	db, err := sqlite.Open(dir, sqlite.WithLogger(quiet))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	rm, err := db.OpenReadModels(sqlite.ReadModelsOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	st, err := db.OpenSubscriberState(sqlite.SubscriberStateOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	a, err := app.New(app.Config{Store: db, Reader: rm})
	if err != nil {
		tb.Fatal(err)
	}
	return &env{db: db, rm: rm, state: st, app: a}
}

// start declares the subscribers and runs them until the test ends.
func (e *env) start(tb testing.TB, cfg sentiment.EscalationConfig, start subscription.Start) {
	tb.Helper()
	r := subscription.NewRunner(e.db, e.state, subscription.Options{Logger: quiet, Backoff: subscription.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}})
	scorer, err := sentiment.NewScorer(analyzer(), e.app.Automation())
	if err != nil {
		tb.Fatal(err)
	}
	policy, err := sentiment.NewEscalation(cfg, e.db, e.app.Automation())
	if err != nil {
		tb.Fatal(err)
	}
	must(tb, r.AddProjection(subscription.Projection{Name: projection.TicketsName, Store: e.rm, Projector: projection.Tickets{}}))
	must(tb, r.AddSideEffect(subscription.SideEffect{Name: sentiment.ScorerName, Start: start, Handler: scorer, Types: sentiment.ScoredTypes}))
	must(tb, r.AddSideEffect(subscription.SideEffect{Name: sentiment.EscalationName, Start: start, Handler: policy, Types: sentiment.EscalationTypes}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	e.runner = r
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func as(name string, role eventdesk.Role) context.Context {
	return eventdesk.NewContextWithActor(context.Background(), eventdesk.Actor{Name: name, Role: role})
}

var (
	rita  = as("rita", eventdesk.RoleRequester)
	agent = as("alice", eventdesk.RoleAgent)
)

// events returns the ticket's stream.
func (e *env) events(tb testing.TB, id string) []eventdesk.Event {
	tb.Helper()
	evs, err := e.db.ReadStream(context.Background(), eventdesk.TicketStream(id), 1, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return evs
}

// waitIdle waits until every subscriber has caught up with the head.
func (e *env) waitIdle(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		idle := true
		for _, s := range e.runner.Status() {
			if !s.Running || s.Lag > 0 {
				idle = false
			}
		}
		if idle {
			// The subscribers may have appended events after the head was
			// read; check once more.
			time.Sleep(20 * time.Millisecond)
			busy := false
			for _, s := range e.runner.Status() {
				busy = busy || s.Lag > 0
			}
			if !busy {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatalf("subscribers did not catch up: %+v", e.runner.Status())
}

func ofType(events []eventdesk.Event, typ string) []eventdesk.Event {
	var out []eventdesk.Event
	for _, e := range events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func TestScoresDescriptionsAndPublicCommentsOnly(t *testing.T) {
	e := newEnv(t)
	e.start(t, sentiment.EscalationConfig{Disabled: true}, subscription.FromBeginning)
	res, err := e.app.CreateTicket.Handle(rita, app.CreateTicket{Title: "Export", Description: "The export works great, thanks!"})
	must(t, err)
	id := res.Ticket.ID
	_, err = e.app.AddComment.Handle(agent, app.AddComment{TicketID: id, Body: "This customer is awful and annoying.", Internal: true})
	must(t, err)
	c, err := e.app.AddComment.Handle(agent, app.AddComment{TicketID: id, Body: "Happy to help, glad it works."})
	must(t, err)
	desc := "Actually it is broken and useless."
	_, err = e.app.UpdateTicket.Handle(rita, app.UpdateTicket{ID: id, Edit: eventdesk.EditTicket{Description: &desc}})
	must(t, err)
	e.waitIdle(t)

	events := e.events(t, id)
	scores := ofType(events, eventdesk.TypeSentimentScored)
	if len(scores) != 3 {
		t.Fatalf("got %d scores, want 3 (created, public comment, description): %v", len(scores), events)
	}
	sources := map[string]eventdesk.Event{}
	for _, ev := range events {
		sources[ev.ID] = ev
	}
	labels := []string{sentiment.LabelPositive, sentiment.LabelPositive, sentiment.LabelNegative}
	for i, s := range scores {
		p, err := eventdesk.Decode(s)
		must(t, err)
		sc := p.(eventdesk.SentimentScored)
		src, ok := sources[sc.SourceEventID]
		if !ok {
			t.Fatalf("score %s names an unknown source %s", s.ID, sc.SourceEventID)
		}
		if s.Metadata.CausationID != sc.SourceEventID {
			t.Errorf("causation id %q, want the scored event %q", s.Metadata.CausationID, sc.SourceEventID)
		}
		if s.Metadata.Actor != "policy:sentiment" {
			t.Errorf("actor %q", s.Metadata.Actor)
		}
		if sc.Label != labels[i] {
			t.Errorf("score %d of %s: label %s (%.2f), want %s", i, src.Type, sc.Label, sc.Score, labels[i])
		}
		if src.Type == eventdesk.TypeTicketCommented && src.ID != c.Comment.ID {
			t.Errorf("scored comment %s, want only the public one %s", src.ID, c.Comment.ID)
		}
	}

	// The read model carries the scores; requesters do not see them.
	got, err := e.app.Ticket.Handle(agent, app.GetTicket{ID: id, MinPosition: scores[2].Position})
	must(t, err)
	sum, ok := app.SummarizeSentiment(got)
	if !ok || sum.Latest.Label != sentiment.LabelNegative || sum.Trend != app.TrendWorsening || len(sum.History) != 3 {
		t.Errorf("summary %+v, ok %v", sum, ok)
	}
	mine, err := e.app.Ticket.Handle(rita, app.GetTicket{ID: id})
	must(t, err)
	if _, ok := app.SummarizeSentiment(mine); ok {
		t.Error("a requester sees sentiment scores")
	}
}

func TestScoringIsIdempotentPerSourceEvent(t *testing.T) {
	e := newEnv(t)
	res, err := e.app.CreateTicket.Handle(rita, app.CreateTicket{Title: "Hello", Description: "I love it"})
	must(t, err)
	scorer, err := sentiment.NewScorer(analyzer(), e.app.Automation())
	must(t, err)
	created := e.events(t, res.Ticket.ID)[0]
	for range 3 { // a redelivered event
		must(t, scorer.Handle(context.Background(), created))
	}
	if n := len(ofType(e.events(t, res.Ticket.ID), eventdesk.TypeSentimentScored)); n != 1 {
		t.Fatalf("%d scores after three deliveries of one event, want 1", n)
	}
}

func TestAutomationIsForPoliciesOnly(t *testing.T) {
	e := newEnv(t)
	res, err := e.app.CreateTicket.Handle(rita, app.CreateTicket{Title: "Hello"})
	must(t, err)
	src := e.events(t, res.Ticket.ID)[0].ID
	for i, ctx := range []context.Context{context.Background(), rita, agent, as("admin", eventdesk.RoleAdmin)} {
		_, err := e.app.Automation().RecordSentiment(ctx, app.RecordSentiment{TicketID: res.Ticket.ID, SourceEventID: src, Score: -1, Label: "negative"})
		if c := eventdesk.ErrorCode(err); c != eventdesk.EForbidden && c != eventdesk.EUnauthorized {
			t.Errorf("caller %d: RecordSentiment: %v, want forbidden", i, err)
		}
	}
}

func TestEscalation(t *testing.T) {
	e := newEnv(t)
	e.start(t, sentiment.EscalationConfig{}, subscription.FromBeginning)
	angry := "This is the worst service ever. I am furious, nothing works and nobody helps!"

	// A strongly negative new ticket is raised to high by the policy.
	r1, err := e.app.CreateTicket.Handle(rita, app.CreateTicket{Title: "Broken again", Description: angry, Priority: eventdesk.PriorityLow})
	must(t, err)
	// A calm ticket stays; an angry comment by the requester raises it.
	r2, err := e.app.CreateTicket.Handle(rita, app.CreateTicket{Title: "Question", Description: "How do I export my data? Thanks."})
	must(t, err)
	// An angry comment by the team or an internal note changes nothing.
	r3, err := e.app.CreateTicket.Handle(rita, app.CreateTicket{Title: "Another question", Description: "Where is the invoice?"})
	must(t, err)
	// An urgent ticket is never lowered.
	r4, err := e.app.CreateTicket.Handle(agent, app.CreateTicket{Title: "Outage", Description: angry, Requester: "rita", Priority: eventdesk.PriorityUrgent})
	must(t, err)
	e.waitIdle(t)
	_, err = e.app.AddComment.Handle(rita, app.AddComment{TicketID: r2.Ticket.ID, Body: angry})
	must(t, err)
	_, err = e.app.AddComment.Handle(agent, app.AddComment{TicketID: r3.Ticket.ID, Body: angry})
	must(t, err)
	_, err = e.app.AddComment.Handle(agent, app.AddComment{TicketID: r3.Ticket.ID, Body: angry, Internal: true})
	must(t, err)
	e.waitIdle(t)

	check := func(id string, want eventdesk.Priority, escalations int) {
		t.Helper()
		evs := e.events(t, id)
		t1, err := eventdesk.Fold(evs)
		must(t, err)
		if t1.Priority != want {
			t.Errorf("ticket %q: priority %s, want %s", t1.Title, t1.Priority, want)
		}
		changes := ofType(evs, eventdesk.TypePriorityChanged)
		if len(changes) != escalations {
			t.Fatalf("ticket %q: %d priority changes, want %d", t1.Title, len(changes), escalations)
		}
		for _, c := range changes {
			p, _ := eventdesk.Decode(c)
			pc := p.(eventdesk.PriorityChanged)
			if c.Metadata.Actor != "policy:escalation" || !strings.Contains(pc.Reason, "negative sentiment") || pc.To != eventdesk.PriorityHigh {
				t.Errorf("escalation event %+v %+v", c.Metadata, pc)
			}
			cause := findByID(evs, c.Metadata.CausationID)
			if cause.Type != eventdesk.TypeSentimentScored {
				t.Errorf("escalation caused by %q, want a sentiment score", cause.Type)
			}
		}
	}
	check(r1.Ticket.ID, eventdesk.PriorityHigh, 1)
	check(r2.Ticket.ID, eventdesk.PriorityHigh, 1)
	check(r3.Ticket.ID, eventdesk.PriorityNormal, 0)
	check(r4.Ticket.ID, eventdesk.PriorityUrgent, 0)

	// An agent lowers the escalated ticket; a further angry comment raises
	// it again, a redelivery of the old score does not.
	low := eventdesk.PriorityNormal
	_, err = e.app.UpdateTicket.Handle(agent, app.UpdateTicket{ID: r1.Ticket.ID, Edit: eventdesk.EditTicket{Priority: &low}})
	must(t, err)
	policy, err := sentiment.NewEscalation(sentiment.EscalationConfig{}, e.db, e.app.Automation())
	must(t, err)
	old := ofType(e.events(t, r1.Ticket.ID), eventdesk.TypeSentimentScored)[0]
	must(t, policy.Handle(context.Background(), old))
	if t1, _ := eventdesk.Fold(e.events(t, r1.Ticket.ID)); t1.Priority != eventdesk.PriorityNormal {
		t.Errorf("a redelivered score escalated again: %s", t1.Priority)
	}
}

func findByID(evs []eventdesk.Event, id string) eventdesk.Event {
	for _, e := range evs {
		if e.ID == id {
			return e
		}
	}
	return eventdesk.Event{}
}

func TestEscalationConfig(t *testing.T) {
	e := newEnv(t)
	for _, th := range []float64{0.1, -1.5, math.NaN(), 0.5} {
		if _, err := sentiment.NewEscalation(sentiment.EscalationConfig{Threshold: th}, e.db, e.app.Automation()); err == nil {
			t.Errorf("threshold %v accepted", th)
		}
	}
	if _, err := sentiment.NewEscalation(sentiment.EscalationConfig{}, nil, nil); err == nil {
		t.Error("no dependencies accepted")
	}

	// Off: a furious ticket stays where it is.
	e.start(t, sentiment.EscalationConfig{Disabled: true}, subscription.FromBeginning)
	r, err := e.app.CreateTicket.Handle(rita, app.CreateTicket{Title: "Broken", Description: "Terrible, awful, the worst. I hate this."})
	must(t, err)
	e.waitIdle(t)
	evs := e.events(t, r.Ticket.ID)
	if len(ofType(evs, eventdesk.TypeSentimentScored)) != 1 || len(ofType(evs, eventdesk.TypePriorityChanged)) != 0 {
		t.Fatalf("policy off: %d scores, %d priority changes", len(ofType(evs, eventdesk.TypeSentimentScored)), len(ofType(evs, eventdesk.TypePriorityChanged)))
	}
}

func TestEscalationThresholdAndAge(t *testing.T) {
	e := newEnv(t)
	r, err := e.app.CreateTicket.Handle(rita, app.CreateTicket{Title: "Report", Description: "I am a little unhappy with the report."})
	must(t, err)
	scorer, _ := sentiment.NewScorer(analyzer(), e.app.Automation())
	must(t, scorer.Handle(context.Background(), e.events(t, r.Ticket.ID)[0]))
	score := ofType(e.events(t, r.Ticket.ID), eventdesk.TypeSentimentScored)[0]
	p, _ := eventdesk.Decode(score)
	compound := p.(eventdesk.SentimentScored).Score
	if compound > -0.05 || compound <= -0.5 {
		t.Fatalf("test text scores %v; want mildly negative", compound)
	}
	priority := func() eventdesk.Priority {
		t1, err := eventdesk.Fold(e.events(t, r.Ticket.ID))
		must(t, err)
		return t1.Priority
	}
	// Default threshold: mild is not enough.
	def, _ := sentiment.NewEscalation(sentiment.EscalationConfig{}, e.db, e.app.Automation())
	must(t, def.Handle(context.Background(), score))
	if priority() != eventdesk.PriorityNormal {
		t.Fatal("a mildly negative text escalated at the default threshold")
	}
	// Too old for the policy.
	later := func() time.Time { return time.Now().Add(48 * time.Hour) }
	aged, _ := sentiment.NewEscalation(sentiment.EscalationConfig{Threshold: -0.05, Now: later}, e.db, e.app.Automation())
	must(t, aged.Handle(context.Background(), score))
	if priority() != eventdesk.PriorityNormal {
		t.Fatal("a two-day-old text escalated")
	}
	// A threshold that takes it.
	loose, _ := sentiment.NewEscalation(sentiment.EscalationConfig{Threshold: -0.05}, e.db, e.app.Automation())
	must(t, loose.Handle(context.Background(), score))
	if priority() != eventdesk.PriorityHigh {
		t.Fatal("threshold -0.05 did not escalate")
	}
}

func TestBackfillScoresHistoryOnceAndFromNowIgnoresIt(t *testing.T) {
	for _, start := range []subscription.Start{subscription.FromBeginning, subscription.FromNow} {
		t.Run(start.String(), func(t *testing.T) {
			e := newEnv(t)
			var ids []string
			for range 3 {
				r, err := e.app.CreateTicket.Handle(rita, app.CreateTicket{Title: "Old", Description: "It was fine."})
				must(t, err)
				ids = append(ids, r.Ticket.ID)
			}
			e.start(t, sentiment.EscalationConfig{}, start)
			e.waitIdle(t)
			r, err := e.app.CreateTicket.Handle(rita, app.CreateTicket{Title: "New", Description: "It is fine."})
			must(t, err)
			e.waitIdle(t)
			want := 0
			if start == subscription.FromBeginning {
				want = 1
			}
			for _, id := range ids {
				if n := len(ofType(e.events(t, id), eventdesk.TypeSentimentScored)); n != want {
					t.Errorf("old ticket: %d scores, want %d", n, want)
				}
			}
			if n := len(ofType(e.events(t, r.Ticket.ID), eventdesk.TypeSentimentScored)); n != 1 {
				t.Errorf("new ticket: %d scores, want 1", n)
			}
		})
	}
}
