package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATS returns the URL (nats://127.0.0.1:<port>) of an embedded NATS server
// with JetStream enabled, shared by the tests of the binary: the first call
// starts it, with its store in a temporary directory, and [Main] stops it.
// Tests sharing it should use their own subjects and stream names. A test
// that stops or restarts the server uses [NewNATSServer] instead.
func NATS(tb testing.TB) string {
	tb.Helper()
	requireMain(tb, "NATS")
	url, err := startSharedNATS()
	check(tb, "NATS", err)
	return url
}

var startSharedNATS = sync.OnceValues(func() (string, error) {
	dir, err := makeDir("", "nats")
	if err != nil {
		return "", err
	}
	s := &NATSServer{storeDir: dir, port: server.RANDOM_PORT}
	onTeardown(func() {
		s.Shutdown()
		os.RemoveAll(dir)
	})
	if err := s.start(); err != nil {
		return "", err
	}
	return s.URL(), nil
})

// NATSServer is an embedded NATS JetStream server owned by one test, which
// may stop and restart it. It listens on 127.0.0.1 and keeps its port and
// store directory across restarts, so clients can reconnect and streams
// survive.
type NATSServer struct {
	tb       testing.TB
	storeDir string

	mu   sync.Mutex
	port int
	srv  *server.Server
}

// NewNATSServer starts an embedded JetStream server for tb alone, on a
// random free port with its store in tb.TempDir(); it is shut down when tb
// ends. It does not need [Main].
func NewNATSServer(tb testing.TB) *NATSServer {
	tb.Helper()
	s := &NATSServer{tb: tb, storeDir: tb.TempDir(), port: server.RANDOM_PORT}
	tb.Cleanup(s.Shutdown)
	if err := s.start(); err != nil {
		tb.Fatalf("testenv: NATS: %v", err)
	}
	return s
}

// URL returns the server's client URL, nats://127.0.0.1:<port>. It stays the
// same across [NATSServer.Restart].
func (s *NATSServer) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", s.port)
}

// Shutdown stops the server and waits until it has stopped; clients see the
// connection drop. Shutting down a stopped server does nothing.
func (s *NATSServer) Shutdown() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart stops the server if it is running and starts it again on the same
// port with the same store directory. Like tb.Fatal, which it calls if the
// server does not come back, it must be called from the test's goroutine.
func (s *NATSServer) Restart() {
	s.tb.Helper()
	s.Shutdown()
	if err := s.start(); err != nil {
		s.tb.Fatalf("testenv: NATS: restart: %v", err)
	}
}

// start starts a server on s.port (a random one the first time), retrying
// for a while if the port is still held.
func (s *NATSServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("already running")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The server only reports a busy port after its readiness timeout,
		// so probe the port first.
		err := portFree(s.port)
		var srv *server.Server
		if err == nil {
			srv, err = s.newServer()
		}
		if err == nil {
			s.srv = srv
			s.port = srv.Addr().(*net.TCPAddr).Port
			return nil
		}
		if s.port == server.RANDOM_PORT || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *NATSServer) newServer() (*server.Server, error) {
	opts := &server.Options{
		ServerName: "eventdesk-test",
		Host:       "127.0.0.1",
		Port:       s.port,
		JetStream:  true,
		StoreDir:   s.storeDir,
		NoLog:      true,
		NoSigs:     true,
		// Bound what a test can take, well below the machine's defaults.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  2 << 30,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("server on port %d not ready within 10s", s.port)
	}
	return srv, nil
}

// portFree reports whether 127.0.0.1:port can be listened on (any port can
// when port is server.RANDOM_PORT).
func portFree(port int) error {
	if port == server.RANDOM_PORT {
		return nil
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	return l.Close()
}
