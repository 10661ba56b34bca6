package listcursor_test

import (
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/listcursor"
)

func TestRoundTripAndRefusals(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 1000, time.UTC)
	tk := eventdesk.Ticket{ID: "0195a000-0000-7000-8000-00000000000a", CreatedAt: at, UpdatedAt: at.Add(time.Second), Priority: eventdesk.PriorityHigh}
	keys := []string{"prio_rank", "created_at"}
	s := listcursor.After(tk, eventdesk.SortPriorityDesc, keys, "fp").Encode()
	c, err := listcursor.Decode(s, eventdesk.SortPriorityDesc, len(keys), "fp")
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != tk.ID || len(c.Key) != 2 || c.Key[0] != int64(eventdesk.PriorityHigh.Rank()) || c.Key[1] != at.UnixMicro() {
		t.Fatalf("decoded %+v", c)
	}
	for name, try := range map[string]func() error{
		"garbage":      func() error { _, err := listcursor.Decode("!!", eventdesk.SortPriorityDesc, 2, "fp"); return err },
		"other sort":   func() error { _, err := listcursor.Decode(s, eventdesk.SortCreatedDesc, 2, "fp"); return err },
		"other keys":   func() error { _, err := listcursor.Decode(s, eventdesk.SortPriorityDesc, 1, "fp"); return err },
		"other filter": func() error { _, err := listcursor.Decode(s, eventdesk.SortPriorityDesc, 2, "other"); return err },
	} {
		if err := try(); eventdesk.ErrorCode(err) != eventdesk.EInvalid || eventdesk.ErrorFields(err)["cursor"] == "" {
			t.Errorf("%s: %v, want an invalid cursor", name, err)
		}
	}
}
