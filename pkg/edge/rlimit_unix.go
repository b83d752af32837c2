//go:build unix

package edge

import "syscall"

// descriptorLimit returns the process's soft limit on open descriptors
// (RLIMIT_NOFILE), which the Go runtime raises to the hard limit at start.
func descriptorLimit() (int, bool) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur == 0 {
		return 0, false
	}
	const most = 1 << 30 // RLIM_INFINITY, or close: no cap worth the name
	if l.Cur > most {
		return most, true
	}
	return int(l.Cur), true
}
