package webhook_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/webhook"
)

// TestBackoffFollowsTheScheduleWithJitter walks the default schedule (eight
// attempts over about 28 hours) on a clock the test moves: after each
// failed attempt the next one is due after that step of the schedule,
// ±20 %, differently for each delivery (jitter), and after the last one
// every delivery is dead and parked as a dead letter.
func TestBackoffFollowsTheScheduleWithJitter(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	e := newEnv(t, webhook.DispatcherConfig{AllowPrivate: true, Now: now})
	rc := newReceiver(t)
	rc.setFail(func(received) int { return http.StatusServiceUnavailable })
	ep := e.register(t, rc)
	waitFor(t, "the subscriber to start", func() bool { return e.runner.Status()[0].Running })
	const n = 6
	for range n {
		e.newTicket(t)
	}
	schedule := webhook.DefaultSchedule
	if e.disp.MaxAttempts() != len(schedule)+1 {
		t.Fatalf("MaxAttempts %d, want %d", e.disp.MaxAttempts(), len(schedule)+1)
	}
	var total time.Duration
	for step := 0; step <= len(schedule); step++ {
		var log []webhook.Delivery
		waitFor(t, "attempt "+strconv.Itoa(step+1), func() bool {
			log, _ = e.registry.Deliveries(context.Background(), ep.ID, 0, 100)
			if len(log) != n {
				return false
			}
			for _, d := range log {
				if d.Attempts != step+1 {
					return false
				}
			}
			return true
		})
		if step == len(schedule) {
			for _, d := range log {
				if d.Status != webhook.StatusDead || d.LastStatusCode != http.StatusServiceUnavailable {
					t.Errorf("after the last attempt: %+v", d)
				}
			}
			break
		}
		wait := schedule[step]
		gaps := map[time.Duration]bool{}
		latest := time.Time{}
		for _, d := range log {
			gap := d.NextAttemptAt.Sub(d.LastAttemptAt)
			if d.Status != webhook.StatusPending || gap < wait*8/10 || gap > wait*12/10 {
				t.Fatalf("attempt %d: %s pending %v, next attempt after %v; want %v ±20%%", step+1, d.EventID, d.Status, gap, wait)
			}
			gaps[gap] = true
			if d.NextAttemptAt.After(latest) {
				latest = d.NextAttemptAt
			}
		}
		if len(gaps) < 2 {
			t.Errorf("attempt %d: every delivery waits %v: no jitter", step+1, log[0].NextAttemptAt.Sub(log[0].LastAttemptAt))
		}
		// Nothing is sent before it is due.
		before := rc.total()
		time.Sleep(50 * time.Millisecond)
		if rc.total() != before {
			t.Fatalf("attempt %d: a delivery was retried before it was due", step+1)
		}
		offset.Add(int64(latest.Sub(now()) + time.Second))
		total += wait
		e.disp.Notify()
	}
	if total < 24*time.Hour {
		t.Errorf("the default schedule spans %v, want hours (more than a day)", total)
	}
	waitFor(t, "the dead letters", func() bool {
		l, _ := e.state.DeadLetters(context.Background(), webhook.DeadLetterSubscriber(ep.ID))
		return len(l) == n
	})
}

// TestGoneDisablesAtOnce: a receiver answering 410 Gone asks for no more
// webhooks (Standard Webhooks): its endpoint is disabled after that one
// attempt, with the reason, and its deliveries wait instead of being
// retried.
func TestGoneDisablesAtOnce(t *testing.T) {
	e := newEnv(t, webhook.DispatcherConfig{AllowPrivate: true, Schedule: repeat(time.Millisecond, 50)})
	rc := newReceiver(t)
	rc.setFail(func(received) int { return http.StatusGone })
	ep := e.register(t, rc)
	waitFor(t, "the subscriber to start", func() bool { return e.runner.Status()[0].Running })
	e.newTicket(t)
	waitFor(t, "the endpoint to be disabled", func() bool {
		got, _ := e.registry.Get(context.Background(), ep.ID)
		return got.Disabled
	})
	time.Sleep(100 * time.Millisecond)
	got, _ := e.registry.Get(context.Background(), ep.ID)
	if rc.total() != 1 || !strings.Contains(got.DisabledReason, "410") {
		t.Fatalf("%d requests, endpoint %+v; want one request and a 410 reason", rc.total(), got)
	}
	log, _ := e.registry.Deliveries(context.Background(), ep.ID, 0, 10)
	if len(log) != 1 || log[0].Status != webhook.StatusPending || log[0].Attempts != 1 || log[0].LastStatusCode != http.StatusGone {
		t.Fatalf("delivery log %+v", log)
	}
}

// total counts every request the receiver got.
func (rc *receiver) total() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, c := range rc.attempts {
		n += c
	}
	return n
}
