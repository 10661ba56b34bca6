package auth_test

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/auth"
)

func TestSessions(t *testing.T) {
	if _, err := auth.NewSessions([]byte("short"), 0); err == nil {
		t.Fatal("a short key was accepted")
	}
	key := bytes.Repeat([]byte{1}, 32)
	s, err := auth.NewSessions(key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	alice := eventdesk.Actor{Name: "alice", Role: eventdesk.RoleAgent}
	v := s.Encode(alice)
	if got, err := s.Decode(v); err != nil || got != alice {
		t.Fatalf("decode: %+v %v", got, err)
	}
	other, _ := auth.NewSessions(bytes.Repeat([]byte{2}, 32), time.Hour)
	for name, bad := range map[string]string{
		"empty":        "",
		"no signature": v[:len(v)-44],
		"other key":    other.Encode(alice),
		"tampered":     "f" + v[1:],
		"garbage":      "%%%.%%%",
	} {
		if _, err := s.Decode(bad); eventdesk.ErrorCode(err) != eventdesk.EUnauthorized {
			t.Errorf("%s: %v", name, err)
		}
	}

	// Cookies: HttpOnly, SameSite=Lax, and read back by the authenticator.
	w := httptest.NewRecorder()
	s.SetCookie(w, alice)
	c := w.Result().Cookies()[0]
	if c.Name != auth.CookieName || !c.HttpOnly || c.Path != "/" {
		t.Fatalf("cookie %+v", c)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(c)
	au := &auth.Authenticator{Sessions: s}
	if a, ok, err := au.Authenticate(r); err != nil || !ok || a != alice {
		t.Fatalf("authenticate: %+v %v %v", a, ok, err)
	}
	if _, ok, err := au.Authenticate(httptest.NewRequest("GET", "/", nil)); ok || err != nil {
		t.Fatalf("anonymous: %v %v", ok, err)
	}
	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer edk_x")
	if _, _, err := au.Authenticate(r); eventdesk.ErrorCode(err) != eventdesk.EUnauthorized {
		t.Fatalf("bearer without a token checker: %v", err)
	}
}

func TestSessionExpiry(t *testing.T) {
	s, _ := auth.NewSessions(bytes.Repeat([]byte{1}, 32), time.Second)
	v := s.Encode(eventdesk.Actor{Name: "alice", Role: eventdesk.RoleAgent})
	time.Sleep(2100 * time.Millisecond)
	if _, err := s.Decode(v); eventdesk.ErrorCode(err) != eventdesk.EUnauthorized {
		t.Fatalf("expired session: %v", err)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "session.key")
	k1, err := auth.LoadOrCreateKey(path)
	if err != nil || len(k1) != auth.KeySize {
		t.Fatalf("create: %d bytes, %v", len(k1), err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	k2, err := auth.LoadOrCreateKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatal("the key changed on reload")
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.LoadOrCreateKey(path); err == nil {
		t.Fatal("a short key file was accepted")
	}
}
