package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/postgres"
	"github.com/eventdesk/eventdesk/projection"
)

// memCounters is the dashboard projection over plain maps: the oracle.
type memCounters struct {
	tickets  map[string]eventdesk.Ticket
	counters map[string]int64
}

func (m *memCounters) Ticket(_ context.Context, id string) (eventdesk.Ticket, bool, error) {
	t, ok := m.tickets[id]
	return t, ok, nil
}

func (m *memCounters) SaveTicket(_ context.Context, t eventdesk.Ticket) error {
	m.tickets[t.ID] = t
	return nil
}

func (m *memCounters) AddCount(_ context.Context, c string, d int64) error {
	m.counters[c] += d
	return nil
}

// TestDashboardToneMigration: a database whose dashboard was projected by
// a binary that did not count sentiment scores gets them counted by
// migration 0007, from the events up to the dashboard's checkpoint, with
// the projection's own rounding; the projection then goes on from its
// checkpoint, and the dashboard equals one projected from scratch.
func TestDashboardToneMigration(t *testing.T) {
	ctx := t.Context()
	dsn := testenv.Postgres(t)
	db := open(t, dsn, postgres.Options{})

	// Ten days of tickets, each text scored; scores that test the
	// rounding and the threshold, and some JSON writes with an exponent.
	rng := rand.New(rand.NewPCG(1, 2))
	special := []float64{-0.5, -0.50001, -0.49999, 0.12345, -0.12345, 0.00005, -0.00005, 1e-7, -1, 1, 0}
	start := time.Date(2025, 4, 1, 22, 0, 0, 0, time.UTC)
	for i := range 40 {
		stream := eventdesk.TicketStream(fmt.Sprintf("0198eeee-0000-7000-8000-%012x", i))
		at := start.Add(time.Duration(rng.IntN(10*24*60)) * time.Minute)
		created, _ := json.Marshal(eventdesk.TicketCreated{Title: "t", Priority: eventdesk.PriorityNormal, Requester: "rita", Tags: []string{}})
		batch := []eventdesk.EventData{{ID: newID("c"), Type: eventdesk.TypeTicketCreated, Schema: 1, Data: created, RecordedAt: at}}
		for range 1 + rng.IntN(3) {
			s := 2*rng.Float64() - 1
			if rng.IntN(3) == 0 {
				s = special[rng.IntN(len(special))]
			}
			at = at.Add(time.Duration(1+rng.IntN(600)) * time.Minute)
			data, _ := json.Marshal(eventdesk.SentimentScored{SourceEventID: batch[0].ID, Score: s, Label: "x"})
			batch = append(batch, eventdesk.EventData{ID: newID("s"), Type: eventdesk.TypeSentimentScored, Schema: 1, Data: data, RecordedAt: at})
		}
		if _, err := db.Append(ctx, stream, eventdesk.NoStream, batch...); err != nil {
			t.Fatal(err)
		}
	}
	events, err := db.ReadAll(ctx, 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	mem := &memCounters{tickets: map[string]eventdesk.Ticket{}, counters: map[string]int64{}}
	if err := (projection.Dashboard{}).ApplyAll(ctx, mem, events); err != nil {
		t.Fatal(err)
	}
	project := func(d *postgres.DashboardStore, part []eventdesk.Event) {
		t.Helper()
		if err := d.Project(ctx, projection.DashboardName, part[len(part)-1].Position, func(tx eventdesk.ProjectionTx) error {
			return projection.Dashboard{}.ApplyAll(ctx, tx, part)
		}); err != nil {
			t.Fatal(err)
		}
	}
	// The dashboard reached two thirds of the events before the upgrade.
	mid := len(events) * 2 / 3
	project(db.Dashboard(), events[:mid])
	// Back to the database as the older binary left it: no tone counters,
	// migration 0007 not applied.
	for _, stmt := range []string{
		"DELETE FROM dash_counters WHERE name LIKE 'd:%:tone:%'",
		"DELETE FROM schema_migrations WHERE version = 7",
	} {
		if err := db.ExecForTest(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	db = open(t, dsn, postgres.Options{})
	d := db.Dashboard()
	from, to := eventdesk.Day(events[0].RecordedAt).AddDate(0, 0, -1), eventdesk.Day(events[len(events)-1].RecordedAt)
	half := &memCounters{tickets: map[string]eventdesk.Ticket{}, counters: map[string]int64{}}
	if err := (projection.Dashboard{}).ApplyAll(ctx, half, events[:mid]); err != nil {
		t.Fatal(err)
	}
	compare := func(when string, counters map[string]int64) {
		t.Helper()
		got, err := d.Dashboard(ctx, from, to)
		if err != nil {
			t.Fatal(err)
		}
		want, err := projection.BuildDashboard(counters, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			for i := range got.Days {
				if got.Days[i].Tone != want.Days[i].Tone {
					t.Errorf("%s, %s: tone %+v, want %+v", when, got.Days[i].Day.Format(time.DateOnly), got.Days[i].Tone, want.Days[i].Tone)
				}
			}
			t.Fatalf("%s: the dashboard differs from the projection's\n got %+v\nwant %+v", when, got, want)
		}
		if want.Tone.Count == 0 || want.Tone.Negative == 0 {
			t.Fatalf("%s: no scores to compare: %+v", when, want.Tone)
		}
	}
	compare("after the migration", half.counters)
	project(d, events[mid:])
	compare("after catching up", mem.counters)
}
