package webhook

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// nonPublic lists ranges that are not covered by netip.Addr's predicates
// but are not the public internet either.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT, shared address space
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: embeds an IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds an IPv4 address
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated
}

// PublicAddr reports whether deliveries may go to ip by default: not
// loopback, private, link-local, unspecified, multicast or one of the
// other special-purpose ranges. IPv4-mapped IPv6 addresses are judged as
// the IPv4 address they carry.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// ErrForbiddenAddress is returned (wrapped) by a dial to an address that
// PublicAddr refuses.
type ErrForbiddenAddress struct{ Addr string }

func (e *ErrForbiddenAddress) Error() string {
	return fmt.Sprintf("webhook: refusing to connect to %s: not a public address (see --webhook-allow-private)", e.Addr)
}

// guardedDialer returns a dialer whose Control hook refuses non-public
// addresses. The hook runs for the address actually being connected to,
// after DNS resolution, for each address tried, so a host name that
// resolves (or re-resolves, DNS rebinding) to an internal address is
// refused too.
func guardedDialer(allowPrivate bool) *net.Dialer {
	d := &net.Dialer{}
	if allowPrivate {
		return d
	}
	d.Control = func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &ErrForbiddenAddress{Addr: address}
		}
		if !PublicAddr(ap.Addr()) {
			return &ErrForbiddenAddress{Addr: ap.Addr().String()}
		}
		return nil
	}
	return d
}
