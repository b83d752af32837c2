//go:build !unix

package edge

// descriptorLimit is unknown here: MaxConnections defaults to
// fallbackMaxConnections.
func descriptorLimit() (int, bool) { return 0, false }
