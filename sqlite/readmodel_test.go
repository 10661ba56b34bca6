package sqlite_test

import (
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/storetest"
)

func openReadModels(tb testing.TB) *sqlite.ReadModels {
	tb.Helper()
	m, err := sqlite.OpenReadModels(tb.TempDir(), sqlite.ReadModelsOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Error(err)
		}
	})
	return m
}

func TestReadModelsConformance(t *testing.T) {
	storetest.RunProjections(t, func(tb testing.TB) (eventdesk.ProjectionStore, eventdesk.TicketReader) {
		m := openReadModels(tb)
		return m, m
	})
}

func TestSubscriberStateConformance(t *testing.T) {
	storetest.RunSubscriberStore(t, func(tb testing.TB) eventdesk.SubscriberStore {
		s, err := sqlite.OpenSubscriberState(tb.TempDir(), sqlite.SubscriberStateOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = s.Close() })
		return s
	})
}
