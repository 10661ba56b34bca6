package eventdesk_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
)

func TestSignalBroadcastWakesEveryWaiter(t *testing.T) {
	var s eventdesk.Signal
	const waiters = 16
	var ready, done sync.WaitGroup
	ready.Add(waiters)
	done.Add(waiters)
	for range waiters {
		go func() {
			defer done.Done()
			ch := s.Wait()
			ready.Done()
			<-ch
		}()
	}
	ready.Wait()
	s.Broadcast()
	woken := make(chan struct{})
	go func() { done.Wait(); close(woken) }()
	select {
	case <-woken:
	case <-time.After(time.Minute): // a hang detector, not a timing assertion
		t.Fatal("Broadcast did not wake every waiter")
	}
}

func TestSignalWaitIsPerRound(t *testing.T) {
	var s eventdesk.Signal
	s.Broadcast() // nobody waiting: nothing to do, no panic

	first := s.Wait()
	if first != s.Wait() {
		t.Error("two waits before a broadcast got different channels")
	}
	select {
	case <-first:
		t.Fatal("closed before any broadcast")
	default:
	}
	s.Broadcast()
	select {
	case <-first:
	default:
		t.Fatal("Broadcast did not close the channel")
	}
	second := s.Wait()
	select {
	case <-second:
		t.Fatal("a wait after the broadcast is already woken")
	default:
	}
	s.Broadcast()
	s.Broadcast() // twice in a row: no double close
	<-second
}

func TestSignalConcurrentUse(t *testing.T) {
	var s eventdesk.Signal
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				// Whoever broadcasts after a Wait closes that wait's
				// channel, so this never blocks for good.
				ch := s.Wait()
				s.Broadcast()
				<-ch
			}
		}()
	}
	wg.Wait()
}

// memLog is an in-memory store-wide log: the smallest AllReader, enough to
// drive CatchUp.
type memLog struct {
	mu     sync.Mutex
	events []eventdesk.Event
	signal eventdesk.Signal
	fail   error
}

func (l *memLog) append(n int) {
	l.mu.Lock()
	for range n {
		p := int64(len(l.events) + 1)
		l.events = append(l.events, eventdesk.Event{Position: p})
	}
	l.mu.Unlock()
	l.signal.Broadcast()
}

func (l *memLog) ReadAll(ctx context.Context, after int64, limit int) ([]eventdesk.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return nil, l.fail
	}
	var out []eventdesk.Event
	for _, e := range l.events {
		if e.Position > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func TestCatchUp(t *testing.T) {
	log := &memLog{}
	log.append(5)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []int64
	var last error
	// A long poll: only the signal can deliver the live events in time.
	for e, err := range eventdesk.CatchUp(ctx, log, log.signal.Wait, 2, 2, time.Hour) {
		if err != nil {
			last = err
			break
		}
		got = append(got, e.Position)
		switch e.Position {
		case 5:
			go log.append(3) // live events after catching up
		case 8:
			cancel()
		}
	}
	want := []int64{3, 4, 5, 6, 7, 8}
	if len(got) != len(want) {
		t.Fatalf("positions %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("positions %v, want %v", got, want)
		}
	}
	if !errors.Is(last, context.Canceled) {
		t.Errorf("last error %v, want context.Canceled", last)
	}
}

func TestCatchUpReportsReadErrors(t *testing.T) {
	boom := errors.New("boom")
	log := &memLog{fail: boom}
	n := 0
	for _, err := range eventdesk.CatchUp(context.Background(), log, nil, 0, 0, 0) {
		n++
		if !errors.Is(err, boom) {
			t.Errorf("error %v, want boom", err)
		}
	}
	if n != 1 {
		t.Errorf("yielded %d times, want once", n)
	}
}
