package main_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// setCookies makes one request without following redirects and returns
// the Set-Cookie headers of the answer, by cookie name.
func setCookies(tb testing.TB, method, url string) map[string]*http.Cookie {
	tb.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		tb.Fatalf("%s %s: %s", method, url, resp.Status)
	}
	out := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		out[c.Name] = c
	}
	if len(out) == 0 {
		tb.Fatalf("%s %s set no cookie", method, url)
	}
	return out
}

// TestSecureCookies: --secure-cookies (or EVENTDESK_SECURE_COOKIES) makes
// the API's session cookie and the UI's cookies Secure over plain HTTP, as
// behind a proxy that terminates TLS; without it they are not, so that a
// local http:// demo can sign in.
func TestSecureCookies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		flags  []string
		env    []string
		secure bool
	}{
		{name: "default"},
		{name: "flag", flags: []string{"--secure-cookies"}, secure: true},
		{name: "environment", env: []string{"EVENTDESK_SECURE_COOKIES=true"}, secure: true},
		{name: "flag wins", flags: []string{"--secure-cookies=false"}, env: []string{"EVENTDESK_SECURE_COOKIES=true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServeWith(t, filepath.Join(t.TempDir(), "data"), tc.flags, tc.env...)
			defer s.stop(t)
			got := map[string]*http.Cookie{}
			// The API's demo login sets the session cookie; the UI's
			// sign-in page sets the cookie its form token is bound to;
			// logging out clears the session with a cookie too.
			for _, req := range [][2]string{{"GET", "/login?user=alice&role=agent"}, {"GET", "/signin"}, {"POST", "/logout"}} {
				for name, c := range setCookies(t, req[0], s.url+req[1]) {
					got[req[0]+" "+req[1]+" "+name] = c
				}
			}
			var session bool
			for where, c := range got {
				session = session || strings.HasSuffix(where, " eventdesk_session")
				if c.Secure != tc.secure {
					t.Errorf("%s: Secure = %t, want %t", where, c.Secure, tc.secure)
				}
			}
			if !session || len(got) < 3 {
				t.Errorf("cookies seen: %v", got)
			}
		})
	}
}
