package envflag

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Positive refuses zero and negative values: for a flag whose default is
// not zero, zero would only mean "the default" or "never".
func Positive[T time.Duration | int](v T) error {
	if v <= 0 {
		return errors.New("must be greater than 0")
	}
	return nil
}

// PositiveOrOff is Positive for a cap that -1 turns off.
func PositiveOrOff(v int) error {
	if v <= 0 && v != -1 {
		return errors.New("must be greater than 0, or -1 for no cap")
	}
	return nil
}

// HostPort checks a listen address: host:port, the host an IP address, a
// host name or empty (every interface), the port a number from 0 to 65535
// (0: any free port).
func HostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port, e.g. 127.0.0.1:3000")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %s: want a number from 0 to 65535", show(port))
	}
	if host != "" && !isHost(host) {
		return fmt.Errorf("host %s: want an IP address or a host name", show(host))
	}
	return nil
}

// isHost reports whether h is an IP address or a host name (RFC 1123
// labels; the last one not all digits, so that 999.0.0.1 is neither).
func isHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return strings.ContainsFunc(labels[len(labels)-1], func(c rune) bool { return c < '0' || c > '9' })
}

// Each checks every item of a list flag; with more than one item, the
// error names the item that fails.
func Each(list []string, check func(string) error) error {
	for _, v := range list {
		if err := check(v); err != nil {
			if len(list) > 1 {
				return fmt.Errorf("%s: %w", show(v), err)
			}
			return err
		}
	}
	return nil
}
