// Command testreport turns the output of `go test -json` (on standard
// input) into a short report for people: the "ok" line of each passing
// package, the full output of each failing test and package, the reason of
// each skipped test, and a closing count,
//
//	go test: 412 passed, 0 failed, 3 skipped
//
// which ./scripts/test uses in its summary. It exits 1 if any test or
// package failed. With an argument, it also writes "passed failed skipped"
// to that file.
//
// It exists because plain `go test` prints no count and `go test -v` is too
// long to read; it uses only the standard library so that it builds
// wherever the tests do.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (see `go doc test2json`).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output and build-fail events
}

type key struct{ pkg, test string }

type report struct {
	out                  io.Writer
	buf                  map[key][]string // output of tests and packages not yet finished
	passed, failed, skip int
	failedPkgs           []string
}

func main() {
	r := &report{out: os.Stdout, buf: map[key][]string{}}
	if err := r.read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	r.finish()
	if len(os.Args) > 1 {
		counts := fmt.Sprintf("%d %d %d\n", r.passed, r.failed, r.skip)
		if err := os.WriteFile(os.Args[1], []byte(counts), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(2)
		}
	}
	if r.failed > 0 || len(r.failedPkgs) > 0 {
		os.Exit(1)
	}
}

func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(r.out, "%s\n", line) // not from test2json: pass it on
			continue
		}
		r.handle(e)
	}
	return sc.Err()
}

func (r *report) handle(e event) {
	k := key{e.Package, e.Test}
	switch e.Action {
	case "build-output":
		fmt.Fprint(r.out, e.Output)
	case "output":
		r.buf[k] = append(r.buf[k], e.Output)
	case "pass", "fail", "skip":
		if e.Test == "" {
			r.endPackage(e)
		} else {
			r.endTest(e)
		}
	}
}

func (r *report) endTest(e event) {
	k := key{e.Package, e.Test}
	lines := r.buf[k]
	delete(r.buf, k)
	switch e.Action {
	case "pass":
		r.passed++
	case "fail":
		r.failed++
		r.print(lines, nil)
	case "skip":
		r.skip++
		r.print(lines, func(l string) bool { return !strings.HasPrefix(l, "=== ") })
	}
}

func (r *report) endPackage(e event) {
	k := key{e.Package, ""}
	lines := r.buf[k]
	delete(r.buf, k)
	if e.Action != "fail" {
		// Only the summary line ("ok  pkg 1.2s", "?  pkg [no test files]").
		r.print(lines, func(l string) bool {
			return strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "ok\t") || strings.HasPrefix(l, "?")
		})
		return
	}
	r.failedPkgs = append(r.failedPkgs, e.Package)
	// Tests that never ended (a panic, a -timeout) keep their output here.
	var open []key
	for k := range r.buf {
		if k.pkg == e.Package {
			open = append(open, k)
		}
	}
	sort.Slice(open, func(i, j int) bool { return open[i].test < open[j].test })
	for _, k := range open {
		r.print(r.buf[k], nil)
		delete(r.buf, k)
	}
	r.print(lines, nil)
}

func (r *report) print(lines []string, keep func(string) bool) {
	for _, l := range lines {
		if keep == nil || keep(l) {
			fmt.Fprint(r.out, l)
		}
	}
}

func (r *report) finish() {
	for k, lines := range r.buf { // the stream ended early: show what is left
		if len(lines) > 0 {
			fmt.Fprintf(r.out, "--- output of %s %s (did not finish):\n", k.pkg, k.test)
			r.print(lines, nil)
		}
	}
	if len(r.failedPkgs) > 0 {
		fmt.Fprintf(r.out, "\nfailed packages:\n\t%s\n", strings.Join(r.failedPkgs, "\n\t"))
	}
	fmt.Fprintf(r.out, "\ngo test: %d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skip)
}
