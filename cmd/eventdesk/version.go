package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time:
//
//	go build -ldflags "-X main.version=1.2.3" ./cmd/eventdesk
//
// Without it the module version from the build info is used ("(devel)" for
// a build from a checkout).
var version = ""

// buildInfo describes this binary.
type buildInfo struct {
	Version   string
	GoVersion string
	Revision  string // VCS revision, "" if unknown
	Time      string // VCS commit time, "" if unknown
	Modified  bool   // the work tree had uncommitted changes
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if b.Version == "" {
			b.Version = "unknown"
		}
		return b
	}
	if b.Version == "" {
		b.Version = info.Main.Version
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String renders b on one line, e.g.
// "eventdesk 1.2.3 (go1.26.0, revision 0123abc, 2025-01-01T00:00:00Z)".
func (b buildInfo) String() string {
	s := fmt.Sprintf("eventdesk %s (%s", b.Version, b.GoVersion)
	if b.Revision != "" {
		rev := b.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += ", revision " + rev
		if b.Modified {
			s += "+dirty"
		}
		if b.Time != "" {
			s += ", " + b.Time
		}
	}
	return s + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}

func runVersion(_ context.Context, args []string, io stdio, _ func(string) string) error {
	f := newFlags("version", `Usage: eventdesk version

Prints the version of this binary, the Go version it was built with and the
VCS revision, when known.
`)
	if err := f.parse(args, io); err != nil {
		return err
	}
	fmt.Fprintln(io.out, readBuildInfo())
	return nil
}
