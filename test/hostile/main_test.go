// Package hostile attacks a real control and edge, the binaries as they
// ship (issue 12's "How to prove it"): every limit of docs/security.md and
// docs/api.md#limits is crossed by a client or an API caller doing its
// worst, and the suite proves that the attacker gets what the docs say (a
// CONNECT_ERROR, an InvalidArgument naming the limit, a closed connection,
// a 408) while nobody else pays for it:
//
//   - both processes keep running and answering (ClusterInfo lists the
//     edge);
//   - a canary, the official socket.io-client connected before the attack,
//     receives every event control emits to it during and after the attack,
//     in order, none later than a bound and no gap between two longer than
//     it;
//   - the edge's (and control's) peak RSS during the attack stays within
//     its baseline plus a bound far below what the unbounded attack took;
//   - the edge's Go heap and goroutines return near their baseline once
//     the attacker is gone.
//
// The stack, the canary and the measurements are in stack_test.go; the
// Go clients an attacker uses in clients_test.go. It needs Node.js and
// node_modules (npm ci: `make test-deps`), and runs under plain
// `go test ./...`.
package hostile

import (
	"testing"

	"github.com/switchboard-rt/switchboard/internal/repotest"
)

// The binaries are built (or found in $SWITCHBOARD_TEST_BIN) before any
// test's clock starts; repotest.Main checks for leaked goroutines after.
func TestMain(m *testing.M) { repotest.Main(m, "edge", "control") }
