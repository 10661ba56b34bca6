package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/eventdesk/eventdesk"
)

// TestStartWriteback checks that the call reaches the kernel: it accepts a
// file with dirty pages and refuses a closed descriptor.
func TestStartWriteback(t *testing.T) {
	if !writebackSupported {
		t.Skip("this platform has no sync_file_range; kick is a no-op here")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	fd := f.Fd()
	if err := startWriteback(fd); err != nil {
		t.Fatalf("startWriteback on a dirty file: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := startWriteback(fd); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("startWriteback on a closed descriptor = %v, want EBADF", err)
	}
}

// TestProjectionCommitsStartWriteback checks that the read models and the
// dashboard start writing back their WAL after each commit, and only then.
func TestProjectionCommitsStartWriteback(t *testing.T) {
	if !writebackSupported {
		t.Skip("this platform has no sync_file_range; kick is a no-op here")
	}
	ctx := t.Context()
	m, err := OpenReadModels(t.TempDir(), ReadModelsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d, err := OpenDashboard(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	stores := []struct {
		name  string
		store eventdesk.ProjectionStore
		kicks func() int64
	}{
		{"read models", m, func() int64 { return m.w.wb.kicks }},
		{"dashboard", d, func() int64 { return d.wb.kicks }},
	}
	refused := errors.New("refused")
	for _, s := range stores {
		if err := s.store.Project(ctx, "p", 1, func(eventdesk.ProjectionTx) error { return nil }); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := s.kicks(); got != 1 {
			t.Errorf("%s: %d writebacks after one commit, want 1", s.name, got)
		}
		if err := s.store.Project(ctx, "p", 2, func(eventdesk.ProjectionTx) error { return refused }); !errors.Is(err, refused) {
			t.Fatalf("%s: Project = %v, want the callback's error", s.name, err)
		}
		if got := s.kicks(); got != 1 {
			t.Errorf("%s: %d writebacks after a rolled-back transaction, want still 1", s.name, got)
		}
	}
}
