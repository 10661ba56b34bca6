package clustertest

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/internal/testenv"
)

// TestUISearchBox: `eventdesk serve` on PostgreSQL, whose read model
// searches text, shows the search box on the HTML ticket list, and the
// box finds tickets.
func TestUISearchBox(t *testing.T) {
	dsn := testenv.Postgres(t)
	token := strings.TrimSpace(run(t, "token", "create", "--store", dsn, "--user", "ops", "--role", "admin"))
	n := startNode(t, "search1", dsn, "")
	for _, title := range []string{"Printer jams on floor 3", "VPN drops"} {
		if code, _, err := call("POST", n.url+"/api/v1/tickets", token, `{"title":"`+title+`"}`, nil, nil); err != nil || code != http.StatusCreated {
			t.Fatalf("create %q: %d %v", title, code, err)
		}
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) string {
		t.Helper()
		resp, err := c.Get(n.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return string(b)
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(get("/signin"))
	if m == nil {
		t.Fatal("no CSRF token on the sign-in page")
	}
	resp, err := c.PostForm(n.url+"/signin", url.Values{"csrf": {html.UnescapeString(m[1])}, "method": {"token"}, "token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	body := get("/tickets")
	if !strings.Contains(body, `name="q" type="search"`) {
		t.Fatal("no search box on the ticket list of a PostgreSQL server")
	}
	// The read model is eventually consistent: wait for both tickets.
	for i := 0; !strings.Contains(body, "VPN drops") && i < 100; i++ {
		time.Sleep(50 * time.Millisecond)
		body = get("/tickets")
	}
	body = get("/tickets?q=printer")
	if !strings.Contains(body, "Printer jams on floor 3") || strings.Contains(body, "VPN drops") {
		t.Errorf("searching for printer does not find just the printer ticket:\n%s", body)
	}
}
