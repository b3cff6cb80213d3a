package crm

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrPrivateAddress: a connector's URL resolved to an address of the
// platform's own networks. A tenant types the CRM's base URL (Bitrix24's
// webhook, 1C's endpoint), so without this check it could make the
// platform fetch http://127.0.0.1:…, the cloud metadata service or a
// neighbour in the cluster and read the answer back through the API.
var ErrPrivateAddress = errors.New("crm: address is not on the public internet")

// cgnat is 100.64.0.0/10 (carrier-grade NAT), which net.IP.IsPrivate
// does not cover.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() &&
		!cgnat.Contains(a)
}

// PublicOnlyClient is an HTTP client whose connections go only to public
// addresses. The check runs on the address actually dialled (after DNS), so
// a name that resolves to a private address — or is re-pointed at one
// after a first check — is refused too. No proxy from the environment is
// used, since a proxy would dial the target instead of us.
func PublicOnlyClient(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !publicAddr(ap.Addr()) {
			return fmt.Errorf("%w: %s", ErrPrivateAddress, address)
		}
		return nil
	}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = d.DialContext
	return &http.Client{Timeout: timeout, Transport: tr}
}
