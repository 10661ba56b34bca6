package storetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/google/uuid"
)

// ackPrefix starts each line CrashWriter prints for an acknowledged append.
const ackPrefix = "storetest-ack"

// crashWriters is how many goroutines append in the crash child.
const crashWriters = 16

// CrashWriter is the child's side of the crash test. It appends from many
// goroutines to st until ctx ends or an append fails, and writes one line to
// w for every append as soon as it is acknowledged. The adapter's helper
// test calls it in the child process (see WithCrash); the parent kills that
// process with SIGKILL in the middle of it.
func CrashWriter(ctx context.Context, st eventdesk.EventStore, w io.Writer) error {
	var mu sync.Mutex
	errc := make(chan error, crashWriters)
	for g := range crashWriters {
		go func() { errc <- crashWrite(ctx, st, g, w, &mu) }()
	}
	var first error
	for range crashWriters {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// crashWrite is one writer of CrashWriter: four streams of its own with
// exact expected versions, and a stream shared by all with AnyVersion.
// Every event's data says which append it belongs to, so that the parent
// can tell a torn append.
func crashWrite(ctx context.Context, st eventdesk.EventStore, g int, w io.Writer, mu *sync.Mutex) error {
	versions := map[string]int64{}
	for i := 0; ctx.Err() == nil; i++ {
		stream := fmt.Sprintf("crash-%d-%d", g, i%4)
		exp := eventdesk.ExactVersion(versions[stream])
		if i%5 == 4 {
			stream, exp = "crash-shared", eventdesk.AnyVersion
		}
		n := 1 + (g+i)%3
		evs := make([]eventdesk.EventData, n)
		for k := range evs {
			id, err := uuid.NewV7()
			if err != nil {
				return err
			}
			evs[k] = eventdesk.EventData{
				ID: id.String(), Type: "test.crashed", Schema: 1,
				Data: json.RawMessage(fmt.Sprintf(`{"g":%d,"a":%d,"i":%d,"n":%d}`, g, i, k, n)),
			}
		}
		res, err := st.Append(ctx, stream, exp, evs...)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("storetest: crash writer %d: append %d to %s: %w", g, i, stream, err)
		}
		versions[stream] = res.Version
		mu.Lock()
		_, err = fmt.Fprintf(w, "%s %s %d %d %d\n", ackPrefix, stream, res.Version, res.Position, n)
		mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// ack is an append the child acknowledged.
type ack struct {
	stream            string
	version, position int64
	n                 int
}

// crashData is the data of an event written by CrashWriter.
type crashData struct {
	G, A, I, N int
}

func (s *suite) testCrash(t *testing.T) {
	cmd, reopen := s.cfg.crash(t)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start crash child: %v", err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	var (
		mu    sync.Mutex
		acks  []ack
		other []string
		count atomic.Int64
	)
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			var a ack
			if _, err := fmt.Sscanf(line, ackPrefix+" %s %d %d %d", &a.stream, &a.version, &a.position, &a.n); err != nil {
				mu.Lock()
				if len(other) < 50 {
					other = append(other, line)
				}
				mu.Unlock()
				continue
			}
			mu.Lock()
			acks = append(acks, a)
			mu.Unlock()
			count.Add(1)
		}
	}()

	// Kill the child once it is well under way, at an arbitrary moment of
	// whatever group commit it is in.
	const minAcks = 400
	deadline := time.After(time.Minute)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
wait:
	for count.Load() < minAcks {
		select {
		case <-eof:
			_ = cmd.Wait()
			killed = true
			t.Fatalf("crash child exited after %d acknowledged appends before being killed:\n%s\n%s", count.Load(), strings.Join(other, "\n"), stderr.String())
		case <-deadline:
			break wait
		case <-tick.C:
		}
	}
	if count.Load() == 0 {
		t.Fatalf("crash child acknowledged no append within a minute:\n%s\n%s", strings.Join(other, "\n"), stderr.String())
	}
	time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
		t.Fatalf("kill crash child: %v", err)
	}
	<-eof
	err = cmd.Wait()
	killed = true
	var exit interface{ ExitCode() int }
	if !errors.As(err, &exit) || exit.ExitCode() != -1 {
		t.Fatalf("crash child was not killed by the signal (wait: %v):\n%s\n%s", err, strings.Join(other, "\n"), stderr.String())
	}
	t.Logf("killed the crash child after %d acknowledged appends", len(acks))

	st := reopen(t)
	t.Cleanup(func() { _ = st.Close() })

	// Every stream is intact and made of whole appends.
	streams := []string{"crash-shared"}
	for g := range crashWriters {
		for k := range 4 {
			streams = append(streams, fmt.Sprintf("crash-%d-%d", g, k))
		}
	}
	byVersion := map[string][]eventdesk.Event{}
	total := 0
	for _, stream := range streams {
		evs := checkStream(t, st, stream)
		byVersion[stream] = evs
		total += len(evs)
		for j := 0; j < len(evs); {
			var d crashData
			if err := json.Unmarshal(evs[j].Data, &d); err != nil {
				t.Fatalf("%s v%d: data %s: %v", stream, evs[j].Version, evs[j].Data, err)
			}
			if d.I != 0 || j+d.N > len(evs) {
				t.Fatalf("%s v%d: a torn append (event %d of %d, stream has %d events)", stream, evs[j].Version, d.I+1, d.N, len(evs))
			}
			for k := 1; k < d.N; k++ {
				var dk crashData
				_ = json.Unmarshal(evs[j+k].Data, &dk)
				if dk.G != d.G || dk.A != d.A || dk.I != k {
					t.Fatalf("%s v%d: event %+v interleaves the append %+v", stream, evs[j+k].Version, dk, d)
				}
			}
			j += d.N
		}
	}

	// Every acknowledged append is there, where it was acknowledged.
	for _, a := range acks {
		evs := byVersion[a.stream]
		if a.version < int64(a.n) || a.version > int64(len(evs)) {
			t.Fatalf("acknowledged append %s v%d is lost after the crash (stream has %d events)", a.stream, a.version, len(evs))
		}
		last := evs[a.version-1]
		var d crashData
		_ = json.Unmarshal(last.Data, &d)
		if d.I != a.n-1 || d.N != a.n {
			t.Fatalf("%s v%d is not the end of a %d-event append: %s", a.stream, a.version, a.n, last.Data)
		}
		if !s.cfg.noGlobal && last.Position != a.position {
			t.Fatalf("acknowledged append %s v%d was at position %d, is at %d after the crash", a.stream, a.version, a.position, last.Position)
		}
	}

	if !s.cfg.noGlobal {
		all := s.checkLog(t, st)
		if len(all) != total {
			t.Fatalf("log has %d events, streams %d", len(all), total)
		}
	}
	// The store takes appends again, numbering on.
	res, err := st.Append(testContext(t), "crash-shared", eventdesk.AnyVersion, events(t, 1)...)
	if err != nil {
		t.Fatalf("append after the crash: %v", err)
	}
	s.wantPosition(t, res.Position, int64(total+1))
}
