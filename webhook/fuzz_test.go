package webhook_test

import (
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/webhook"
)

// FuzzValidateURL: no input panics; an accepted URL without
// --webhook-allow-private is absolute http(s), has no credentials, and is
// not a literal internal address.
func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{"https://example.com/x?y=1", "http://127.0.0.1/", "http://[::ffff:10.0.0.1]:80/", "http://0x7f.1/", "https://a:b@c/", "ftp://x", "http://[fe80::1%25eth0]/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := webhook.ValidateURL(raw, false)
		if err != nil {
			return
		}
		u, perr := url.Parse(got)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Hostname() == "" {
			t.Fatalf("accepted %q as %q", raw, got)
		}
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !webhook.PublicAddr(ip) {
			t.Fatalf("accepted the internal address %q", raw)
		}
	})
}

// FuzzVerify: no header or body panics, and a message's own signature
// verifies.
func FuzzVerify(f *testing.F) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	f.Add("msg_1", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`))
	f.Add("", "x", "v1,", []byte{})
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		now := time.Unix(1614265330, 0)
		_ = webhook.Verify(secret, id, ts, sig, body, now, time.Hour)
		good := webhook.Sign([]string{secret}, id, now, body)
		if id != "" && webhook.Verify(secret, id, "1614265330", good, body, now, time.Minute) != nil {
			t.Fatalf("own signature does not verify: %q", good)
		}
	})
}
