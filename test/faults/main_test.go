// Package faults breaks real parts of a running Switchboard deployment
// while it works (issue 14, "Faults, as tests"), and checks that what
// happens is what the documentation promises:
//
//   - TestNATSNodeDies: a NATS node of a three-node cluster dies during a
//     sustained fan-out to a room whose sockets live on several edges
//     (nats_node_test.go);
//   - TestControlKilledMidCall and TestControlKilledQueueGroup: one of two
//     control replicas is killed with SIGKILL while callers and
//     Subscribe streams use it (control_kill_test.go).
//
// The edges and controls are the binaries as they ship (built by `make
// test-build` into $SWITCHBOARD_TEST_BIN, or by TestMain); NATS servers
// run in this process, so that a test can stop one at the instant it
// chooses. The clients are raw Engine.IO/Socket.IO WebSocket clients
// (clients_test.go). Everything listens on 127.0.0.1, on ports the kernel
// picks.
package faults

import (
	"testing"

	"github.com/switchboard-rt/switchboard/internal/repotest"
)

// The binaries are built (or found in $SWITCHBOARD_TEST_BIN) before any
// test's clock starts; repotest.Main checks for leaked goroutines after
// (the NATS servers, gRPC connections and clients of this process).
func TestMain(m *testing.M) { repotest.Main(m, "edge", "control") }
