package httpapi_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/auth"
)

// benchClients is the number of concurrent keep-alive clients.
const benchClients = 64

// benchNetHTTP makes load drive the server with net/http's client.
var benchNetHTTP = flag.Bool("bench.nethttp", false, "drive the HTTP benchmarks with net/http's client instead of the minimal one (rawClient)")

// load sends n requests from benchClients goroutines, each with its own
// keep-alive connection, and reports requests/s and latency percentiles.
// Building each request is part of the measured loop.
func load(b *testing.B, n int, newReq func(i int) *http.Request, want int) {
	b.Helper()
	// newClient returns one client's round trip: the response's status.
	var newClient func() (do func(*http.Request) (int, error), done func())
	if *benchNetHTTP {
		tr := &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients, DisableCompression: true,
			DialContext: (&net.Dialer{KeepAlive: time.Minute}).DialContext}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		newClient = func() (func(*http.Request) (int, error), func()) {
			return func(r *http.Request) (int, error) {
				resp, err := client.Do(r)
				if err != nil {
					return 0, err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode, nil
			}, func() {}
		}
	} else {
		addr := newReq(0).URL.Host
		newClient = func() (func(*http.Request) (int, error), func()) {
			c := &rawClient{addr: addr}
			return func(r *http.Request) (int, error) {
				req, err := wire(r)
				if err != nil {
					return 0, err
				}
				return c.do(req)
			}, c.close
		}
	}
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	for range benchClients {
		wg.Go(func() {
			do, done := newClient()
			defer done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				status, err := do(newReq(i))
				lat[i] = time.Since(t0)
				switch {
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				case status != want:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d, want %d", status, want))
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-µs/req")
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d requests failed, first: %v", f, n, firstErr.Load())
	}
	report(b, n, elapsed, lat)
}

// report reports throughput and latency percentiles.
func report(b *testing.B, n int, elapsed time.Duration, lat []time.Duration) {
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(lat[n/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[n*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkCreateTicket measures durable creates through the whole stack
// (HTTP, JSON, authentication, app, group-committed SQLite append with
// synchronous=FULL, while the projection runs) next to a trivial handler
// in the same run.
func BenchmarkCreateTicket(b *testing.B) {
	b.Run("trivial-handler", func(b *testing.B) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"ok":true}`))
		}))
		defer ts.Close()
		load(b, max(b.N, 1000), func(int) *http.Request {
			r, _ := http.NewRequest("POST", ts.URL+"/api/v1/tickets", strings.NewReader(`{"title":"Printer on fire","priority":"high","tags":["hw"]}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, http.StatusCreated)
	})
	b.Run("app-only", func(b *testing.B) {
		// The same creates without HTTP: what the store and app allow.
		e := newEnv(b)
		ctx := eventdesk.NewContextWithActor(context.Background(), eventdesk.Actor{Name: "agnes", Role: eventdesk.RoleAgent})
		n := max(b.N, 1000)
		lat := make([]time.Duration, n)
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		start := time.Now()
		cpu0 := cpuTime()
		for range benchClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
					t0 := time.Now()
					if _, err := e.app.CreateTicket.Handle(ctx, app.CreateTicket{Title: fmt.Sprintf("Printer on fire %d", i), Priority: "high", Tags: []string{"hw"}}); err != nil {
						b.Error(err)
						return
					}
					lat[i] = time.Since(t0)
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-µs/req")
		report(b, n, time.Since(start), lat)
	})
	b.Run("create-ticket", func(b *testing.B) {
		e := newEnv(b, func(o *envOptions) { o.logger = true })
		cookie := (&http.Cookie{Name: auth.CookieName, Value: e.sessions.Encode(eventdesk.Actor{Name: "agnes", Role: eventdesk.RoleAgent})}).String()
		load(b, max(b.N, 1000), func(i int) *http.Request {
			r, _ := http.NewRequest("POST", e.url+"/api/v1/tickets", strings.NewReader(fmt.Sprintf(`{"title":"Printer on fire %d","priority":"high","tags":["hw"]}`, i)))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Cookie", cookie)
			return r
		}, http.StatusCreated)
	})
}

// BenchmarkListTickets measures GET /tickets (a filter, 50 items) on a
// store of 100,000 tickets.
func BenchmarkListTickets(b *testing.B) {
	e := newEnv(b, func(o *envOptions) { o.logger = true })
	const tickets = 100_000
	ctx := context.Background()
	agent := eventdesk.NewContextWithActor(ctx, eventdesk.Actor{Name: "agnes", Role: eventdesk.RoleAgent})
	prios := []eventdesk.Priority{"low", "normal", "high", "urgent"}
	var wg sync.WaitGroup
	var pos atomic.Int64
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < tickets; i += 32 {
				res, err := e.app.CreateTicket.Handle(agent, appCreate(i, prios))
				if err != nil {
					b.Error(err)
					return
				}
				for p := pos.Load(); res.Position > p && !pos.CompareAndSwap(p, res.Position); p = pos.Load() {
				}
			}
		}()
	}
	wg.Wait()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := e.rm.WaitFor(wctx, pos.Load()); err != nil {
		b.Fatal(err)
	}
	cookie := (&http.Cookie{Name: auth.CookieName, Value: e.sessions.Encode(eventdesk.Actor{Name: "agnes", Role: eventdesk.RoleAgent})}).String()
	load(b, max(b.N, 1000), func(int) *http.Request {
		r, _ := http.NewRequest("GET", e.url+"/api/v1/tickets?status=new&priority=high&limit=50", nil)
		r.Header.Set("Cookie", cookie)
		return r
	}, http.StatusOK)
}

func appCreate(i int, prios []eventdesk.Priority) app.CreateTicket {
	return app.CreateTicket{
		Title: fmt.Sprintf("Ticket %d", i), Priority: prios[i%len(prios)],
		Requester: fmt.Sprintf("user%d", i%500), Tags: []string{fmt.Sprintf("t%d", i%20)},
	}
}

// cpuTime returns the user and system CPU time of the whole process (all
// threads: load generator, server, store writer and projection), which a
// busy shared machine distorts less than wall-clock time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCreateHandler calls the server's handler directly (no network,
// no load generator) to measure what the API, app and store cost per
// create: allocations and CPU.
func BenchmarkCreateHandler(b *testing.B) {
	e := newEnv(b, func(o *envOptions) { o.logger = true })
	cookie := (&http.Cookie{Name: auth.CookieName, Value: e.sessions.Encode(eventdesk.Actor{Name: "agnes", Role: eventdesk.RoleAgent})}).String()
	body := `{"title":"Printer on fire","priority":"high","tags":["hw"]}`
	b.ReportAllocs()
	b.SetParallelism(benchClients / 2)
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("POST", "/api/v1/tickets", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Cookie", cookie)
			w := httptest.NewRecorder()
			e.srv.ServeHTTP(w, r)
			if w.Code != http.StatusCreated {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/req")
}
