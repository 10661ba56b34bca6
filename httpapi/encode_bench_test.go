package httpapi

import (
	"fmt"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
)

// listPage returns a page of 50 tickets as a staff member sees them on a
// scored store: assigned, tagged, each with three sentiment scores.
func listPage() eventdesk.TicketPage {
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	page := eventdesk.TicketPage{Next: "next-cursor"}
	for i := range 50 {
		t := eventdesk.Ticket{
			ID: fmt.Sprintf("019ab3c4-0000-7000-8000-%012d", i), Title: "Printer on fire", Description: "It started this morning and nobody can print the invoices.",
			Priority: "high", Status: "open", Requester: "rita", Assignee: "agnes", Tags: []string{"hardware", "vip"},
			Version: 5, CreatedAt: at, UpdatedAt: at.Add(time.Hour), CommentCount: 2,
		}
		for j, s := range []float64{0.4, -0.2, -0.7} {
			t.Sentiment = append(t.Sentiment, eventdesk.SentimentScore{Score: s, Label: "negative", At: at.Add(time.Duration(j) * time.Minute), SourceEventID: fmt.Sprintf("e%d-%d", i, j)})
		}
		page.Items = append(page.Items, t)
	}
	return page
}

// BenchmarkEncodeTicketPage measures encoding a list response of 50
// assigned, scored tickets (allocations per page).
func BenchmarkEncodeTicketPage(b *testing.B) {
	page := listPage()
	buf := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendTicketPage(buf[:0], &page)
	}
}
