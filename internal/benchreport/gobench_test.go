package benchreport

import (
	"testing"
)

const sample = `2026/11/23 15:18:16 INFO sqlite: migrated file=/tmp/x/events.db migrations=1 schema=1
goos: linux
goarch: amd64
pkg: github.com/eventdesk/eventdesk/sqlite
cpu: Oxide Virtual Turin-like Processor
BenchmarkAppend/group/writers=1-2         	     423	   2811456 ns/op	         1.000 appends/commit	       355.7 events/s	      1995 events/cpu-s
BenchmarkAppend/group/writers=64-2        	    4000	    100000 ns/op	        47.00 appends/commit	     10000 events/s
BenchmarkAppend/group/writers=64-2        	    4000	    100000 ns/op	        47.00 appends/commit	     12000 events/s
BenchmarkAppend/group/writers=64-2        	    4000	    100000 ns/op	        47.00 appends/commit	      8000 events/s
BenchmarkProjectionLag-2   	2026/11/23 15:18:18 INFO sqlite: migrated file=/tmp/y/events.db migrations=1 schema=1
2026/11/23 15:18:19 INFO subscription: first start subscriber=tickets from=beginning position=0
     300	   3072527 ns/op	       325.5 appends/s	       111.7 max-ms	         3.141 p50-ms	       106.9 p99-ms
PASS
ok  	github.com/eventdesk/eventdesk/sqlite	4.875s
pkg: github.com/eventdesk/eventdesk/postgres
--- SKIP: BenchmarkAppend
    postgres_test.go:42: no PostgreSQL here: install postgresql
FAIL
`

func TestParseGoBench(t *testing.T) {
	bs, skipped := ParseGoBench(sample)
	if len(bs) != 5 {
		t.Fatalf("%d benchmarks: %+v", len(bs), bs)
	}
	if bs[0].Name != "BenchmarkAppend/group/writers=1" || bs[0].N != 423 || bs[0].Metrics["events/s"] != 355.7 || bs[0].Pkg != "github.com/eventdesk/eventdesk/sqlite" {
		t.Errorf("first: %+v", bs[0])
	}
	st := Metric(bs, "BenchmarkAppend/group/writers=64", "events/s")
	if st.Median != 10000 || st.Min != 8000 || st.Max != 12000 || st.Runs != 3 {
		t.Errorf("median over runs: %+v", st)
	}
	lag := Metric(bs, "BenchmarkProjectionLag", "p99-ms")
	if lag.Median != 106.9 {
		t.Errorf("a result printed after log lines: %+v", lag)
	}
	if skipped["BenchmarkAppend"] != "no PostgreSQL here: install postgresql" {
		t.Errorf("skips %q", skipped)
	}
	if got := Names(bs, "BenchmarkAppend/"); len(got) != 2 {
		t.Errorf("names %v", got)
	}
}

func TestFormat(t *testing.T) {
	for v, want := range map[float64]string{1234567: "1,234,567", 12.345: "12.3", 1.2345: "1.23", 0.01234: "0.0123", 0: "0", 999.6: "1,000"} {
		if got := Num(v); got != want {
			t.Errorf("Num(%v) = %q, want %q", v, got, want)
		}
	}
	if Int(-1234) != "-1,234" || Int(12) != "12" {
		t.Error(Int(-1234), Int(12))
	}
	if Seconds(0.25) != "250 ms" || Seconds(185) != "3 min 05 s" || Seconds(7300) != "2 h 01 min" {
		t.Error(Seconds(0.25), Seconds(185), Seconds(7300))
	}
}

func TestGoalVerdicts(t *testing.T) {
	for _, c := range []struct {
		g    Goal
		want string
	}{
		{Goal{Value: 25, Target: 20}, "**MET** (1.25× the goal)"},
		{Goal{Value: 10, Target: 20}, "**NOT MET** (0.50× the goal, 50 % short)"},
		{Goal{Value: 4, Target: 5, AtMost: true}, "**MET** (80 % of the limit)"},
		{Goal{Value: 68, Target: 5, AtMost: true}, "**NOT MET** (14× the limit)"},
		{Goal{Value: 5, Target: 5, AtMost: true}, "**NOT MET** (1.00× the limit)"},
		{Goal{Value: nan(), Why: "skipped: no PostgreSQL"}, "NOT MEASURED (skipped: no PostgreSQL)"},
	} {
		if got := c.g.Verdict(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.g, got, c.want)
		}
	}
}

func TestParseNotes(t *testing.T) {
	n := ParseNotes("# Notes\n\npreamble\n\n<!-- section: appends -->\nWhy group commit.\n<!-- section: serve -->\nMemory.\n<!-- section: appends -->\nMore.\n")
	if n["appends"] != "\nWhy group commit.\n\nMore.\n" || n["serve"] != "\nMemory.\n" || len(n) != 2 {
		t.Errorf("%q", n)
	}
}
