package awslambda_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/eventdesk/eventdesk/awslambda"
)

// TestLazy builds the handler once however many requests race for it,
// answers 500 while the build fails, and tries again on the next request.
func TestLazy(t *testing.T) {
	var builds atomic.Int32
	fail := atomic.Bool{}
	fail.Store(true)
	l := awslambda.NewLazy(func() (http.Handler, error) {
		builds.Add(1)
		if fail.Load() {
			return nil, errors.New("templates do not parse")
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }), nil
	}, nil)
	serve := func() int {
		rec := httptest.NewRecorder()
		l.ServeHTTP(rec, httptest.NewRequest("GET", "/tickets", nil))
		return rec.Code
	}
	if code := serve(); code != http.StatusInternalServerError {
		t.Fatalf("failed build: %d, want 500", code)
	}
	fail.Store(false)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if code := serve(); code != http.StatusTeapot {
				t.Errorf("built: %d, want 418", code)
			}
		})
	}
	wg.Wait()
	if n := builds.Load(); n != 2 {
		t.Errorf("%d builds, want 2 (one failed, one kept)", n)
	}
}
