package bus

// A command meant for several subjects (a Broadcast to several rooms, users
// or edges) is published as one copy per subject only while the copies are
// few and small: each copy carries the whole packet, so 1,000 rooms would
// cost 1,000 packets on the bus and up to 1,000 at an edge that holds them
// all. Beyond these bounds it is published once, on a subject that reaches
// every edge that may hold a selected socket (the namespace subject for an
// emit, the cluster subject for a command that gathers replies), and each
// edge selects its sockets from the target as it always does. docs/bus.md,
// "Exactly once".
const (
	// MaxCopies is the most subjects one command is copied to.
	MaxCopies = 16
	// CopyBudget is the most bytes the copies of one command may total.
	CopyBudget = 64 << 10
)

// CopiesFit reports whether n copies of a command totalling size bytes
// may be published one per subject; otherwise the command goes once on a
// subject that reaches them all.
func CopiesFit(n, size int) bool {
	return n <= 1 || n <= MaxCopies && size <= CopyBudget
}
