package benchreport

import (
	"bufio"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ParseGoBench reads `go test -bench` output (several packages, -count
// runs, -v or not). It returns the benchmark lines and the reasons of
// benchmarks that were skipped (by name).
func ParseGoBench(out string) (benches []Bench, skipped map[string]string) {
	skipped = map[string]string{}
	pkg := ""
	var lastSkip string
	// pending is a benchmark name whose figures come on a later line: the
	// benchmark logged something between printing its name and its result.
	var pending string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(line, "pkg: ")
			continue
		case strings.HasPrefix(trimmed, "--- SKIP: "):
			lastSkip = strings.Fields(strings.TrimPrefix(trimmed, "--- SKIP: "))[0]
			skipped[lastSkip] = ""
			continue
		case lastSkip != "" && strings.HasPrefix(line, "    "):
			// The skip message follows, indented ("    file.go:12: why").
			msg := trimmed
			if _, after, ok := strings.Cut(msg, ": "); ok && strings.Contains(msg[:len(msg)-len(after)], ".go:") {
				msg = after
			}
			if skipped[lastSkip] == "" {
				skipped[lastSkip] = msg
			}
			continue
		}
		lastSkip = ""
		if b, ok := parseBenchLine(line); ok {
			b.Pkg = pkg
			benches = append(benches, b)
			pending = ""
			continue
		}
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "Benchmark") && strings.HasPrefix(line, f[0]) {
			pending = f[0]
			continue
		}
		if pending != "" && trimmed != "" && trimmed[0] >= '0' && trimmed[0] <= '9' {
			if b, ok := parseBenchLine(pending + " " + trimmed); ok {
				b.Pkg = pkg
				benches = append(benches, b)
				pending = ""
			}
		}
	}
	return benches, skipped
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// parseBenchLine parses "BenchmarkX/sub-2  100  123 ns/op  4.5 unit …".
func parseBenchLine(line string) (Bench, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return Bench{}, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return Bench{}, false
	}
	b := Bench{Name: procSuffix.ReplaceAllString(f[0], ""), N: n, Metrics: map[string]float64{}}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Bench{}, false
		}
		b.Metrics[f[i+1]] = v
	}
	return b, true
}

// Stat is a metric over the -count runs of one benchmark.
type Stat struct {
	Median, Min, Max float64
	Runs             int
}

// Metric returns the median (and range) of unit over the benchmarks named
// name (exactly) in bs; Runs is 0 when there is none.
func Metric(bs []Bench, name, unit string) Stat {
	var vs []float64
	for _, b := range bs {
		if v, ok := b.Metrics[unit]; ok && b.Name == name {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return Stat{}
	}
	slices.Sort(vs)
	med := vs[len(vs)/2]
	if len(vs)%2 == 0 {
		med = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	return Stat{Median: med, Min: vs[0], Max: vs[len(vs)-1], Runs: len(vs)}
}

// Names returns the distinct benchmark names in bs with the given prefix,
// in order of first appearance.
func Names(bs []Bench, prefix string) []string {
	var out []string
	for _, b := range bs {
		if strings.HasPrefix(b.Name, prefix) && !slices.Contains(out, b.Name) {
			out = append(out, b.Name)
		}
	}
	return out
}
