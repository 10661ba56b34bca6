package sqlite_test

import (
	"testing"

	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/storetest"
)

// TestTokens runs the token-store suite; the other handle is the store
// reopened, as the CLI opens it next to a running server.
func TestTokens(t *testing.T) {
	open := func(tb testing.TB, dir string) app.TokenStore {
		store, err := sqlite.OpenTokens(dir)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { store.Close() })
		return store
	}
	dirs := map[app.TokenStore]string{}
	storetest.RunTokens(t, func(tb testing.TB) app.TokenStore {
		dir := tb.TempDir()
		store := open(tb, dir)
		dirs[store] = dir
		return store
	}, func(tb testing.TB, first app.TokenStore) app.TokenStore {
		if err := first.(*sqlite.Tokens).Close(); err != nil {
			tb.Fatal(err)
		}
		return open(tb, dirs[first])
	})
}
