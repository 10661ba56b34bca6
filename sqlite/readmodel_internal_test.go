package sqlite

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
)

// TestRowEncoderMatchesMarshal checks that reusing buffers writes what
// json.Marshal writes, row after row.
func TestRowEncoderMatchesMarshal(t *testing.T) {
	var enc rowEncoder
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	for i, tk := range []eventdesk.Ticket{
		{ID: "a", Title: "<b>long</b> & title", Tags: []string{"x"}, CreatedAt: at, Version: 3, Comments: []eventdesk.Comment{{ID: "c", Body: "hi\u2028", CreatedAt: at}}},
		{ID: "b", Title: "short", Tags: []string{}, CreatedAt: at, Version: 1},
		{ID: "c", Sentiment: []eventdesk.SentimentScore{{Score: -0.25, At: at}}, ResolvedAt: at},
	} {
		doc, comments, err := enc.encode(tk)
		if err != nil {
			t.Fatal(err)
		}
		var wantComments []byte
		if len(tk.Comments) > 0 {
			wantComments, _ = json.Marshal(tk.Comments)
		}
		tk.Comments = nil
		wantDoc, _ := json.Marshal(tk)
		if !bytes.Equal(doc, wantDoc) || !bytes.Equal(comments, wantComments) {
			t.Errorf("row %d: got %s / %s, want %s / %s", i, doc, comments, wantDoc, wantComments)
		}
	}
}
