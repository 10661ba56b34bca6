package awslambda

import (
	"log/slog"
	"net/http"
	"sync"
)

// Lazy is an http.Handler built on its first request rather than at init.
// On Lambda the function's init is on the path of every cold start; a part
// of the api function that most requests never reach (the HTML interface,
// whose templates take tens of milliseconds to parse) is better built by
// the first request that needs it. A build that fails answers 500 and is
// tried again by the next request.
type Lazy struct {
	build func() (http.Handler, error)
	log   *slog.Logger
	mu    sync.Mutex
	h     http.Handler
}

// NewLazy returns a handler that calls build once, on first use.
func NewLazy(build func() (http.Handler, error), log *slog.Logger) *Lazy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Lazy{build: build, log: log}
}

// Handler returns the built handler, building it if need be.
func (l *Lazy) Handler() (http.Handler, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.h != nil {
		return l.h, nil
	}
	h, err := l.build()
	if err != nil {
		return nil, err
	}
	l.h = h
	return h, nil
}

// ServeHTTP implements http.Handler.
func (l *Lazy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, err := l.Handler()
	if err != nil {
		l.log.ErrorContext(r.Context(), "awslambda: handler not built", "err", err, "path", r.URL.Path)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"this part of the service could not start; see the function's log"}`))
		return
	}
	h.ServeHTTP(w, r)
}
