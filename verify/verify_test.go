package verify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/verify"
)

// log is an in-memory AllReader over a slice in position order.
type log []eventdesk.Event

func (l log) ReadAll(_ context.Context, after int64, limit int) ([]eventdesk.Event, error) {
	var out []eventdesk.Event
	for _, e := range l {
		if e.Position > after && (limit <= 0 || len(out) < limit) {
			out = append(out, e)
		}
	}
	return out, nil
}

// chained builds n events over streams a and b with valid chains.
func chained(n int) log {
	heads := map[string]eventdesk.Event{}
	var l log
	for i := range n {
		stream := []string{"a", "b"}[i%2]
		e := eventdesk.Event{
			ID: fmt.Sprintf("e%d", i), Stream: stream, Version: heads[stream].Version + 1, Position: int64(i + 1),
			Type: "t", Schema: 1, Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
			RecordedAt: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC),
		}
		e.Hash = eventdesk.ChainHash(heads[stream].Hash, e)
		heads[stream] = e
		l = append(l, e)
	}
	return l
}

func TestLog(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mangle func(log) log
		kinds  []verify.Kind
		says   string
	}{
		{"Intact", func(l log) log { return l }, nil, ""},
		{"AlteredData", func(l log) log { l[4].Data = json.RawMessage(`{"i":99}`); return l }, []verify.Kind{verify.KindHash}, "altered"},
		{"DeletedEvent", func(l log) log { return append(l[:4:4], l[5:]...) }, []verify.Kind{verify.KindPosition, verify.KindVersion, verify.KindHash}, "position 5 is missing"},
		{"RepeatedVersion", func(l log) log {
			l[6].Version = l[4].Version
			l[6].Hash = eventdesk.ChainHash(l[2].Hash, l[6])
			return l
		}, // the forged event and its successor both break
			[]verify.Kind{verify.KindVersion, verify.KindHash, verify.KindVersion, verify.KindHash}, "version 3 follows version 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.mangle(chained(3000))
			var calls int
			rep, err := verify.Log(context.Background(), l, int64(len(l)), func(done, total int64) { calls++ })
			if err != nil {
				t.Fatal(err)
			}
			if rep.Events != int64(len(l)) || rep.Streams != 2 || calls < 2 {
				t.Fatalf("report %+v after %d progress calls", rep, calls)
			}
			var got []verify.Kind
			var text strings.Builder
			for _, b := range rep.Breaks {
				got = append(got, b.Kind)
				text.WriteString(b.String() + "\n")
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.kinds) || rep.OK() != (len(tc.kinds) == 0) || !strings.Contains(text.String(), tc.says) {
				t.Fatalf("breaks %v, want kinds %v saying %q:\n%s", got, tc.kinds, tc.says, text.String())
			}
		})
	}
}

func TestReportCapsBreaks(t *testing.T) {
	var rep verify.Report
	for range verify.MaxBreaks + 5 {
		rep.Add(verify.Break{Kind: verify.KindHash})
	}
	if len(rep.Breaks) != verify.MaxBreaks || rep.Omitted != 5 || rep.OK() {
		t.Fatalf("%d breaks kept, %d omitted", len(rep.Breaks), rep.Omitted)
	}
}

func TestChainsSeedAndForget(t *testing.T) {
	l := chained(6)
	var c verify.Chains // the zero value works
	c.Seed("a", l[2].Version, l[2].Hash)
	if b := c.Check(l[4]); len(b) != 0 {
		t.Fatalf("seeded check: %v", b)
	}
	c.Forget("a")
	if b := c.Check(l[4]); len(b) == 0 {
		t.Fatal("after Forget, a later event must not pass as a stream's first")
	}
}
