// Package soak runs a Switchboard deployment under steady, mixed traffic
// for minutes and fails when something grows that should not: `make soak`
// (docs/soak.md).
//
// TestSoak starts a NATS server in this process and the binaries as they
// ship (built by `make test-build` into $SWITCHBOARD_TEST_BIN): two edges
// and one control, every listener on 127.0.0.1. For $SWITCHBOARD_SOAK (a Go
// duration) it churns a few hundred raw Engine.IO/Socket.IO WebSocket
// clients (connect, join rooms through the API, emit, stay a few seconds,
// leave, some abruptly), fans events out to rooms and to the namespace,
// asks acks of some clients, and reads client events from Subscribe
// streams, one of them slowly. Every few seconds it samples each process's
// RSS and goroutines and the counters of ClusterInfo; it writes them to
// bin/soak/samples.csv and draws bin/soak/soak.png. The verdict
// (check_test.go, with its own test on made-up samples) fails on memory or goroutine growth, a process
// that died, nothing delivered, or any drop that is not the slow stream's.
//
// Without $SWITCHBOARD_SOAK the test is skipped at once, so `go test ./...`
// (and `make test`) pays nothing for it; the verdict's own unit test always
// runs.
package soak

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/internal/repotest"
)

// soakEnv holds the soak's duration; unset, TestSoak is skipped.
const soakEnv = "SWITCHBOARD_SOAK"

// TestMain makes sure of the binaries only when the soak runs: a plain `go
// test ./test/soak` then neither builds nor finds them. Either way it checks
// for leaked goroutines of this process after the tests.
func TestMain(m *testing.M) {
	if os.Getenv(soakEnv) == "" {
		goleak.VerifyTestMain(m)
		return
	}
	repotest.Main(m, "edge", "control")
}
