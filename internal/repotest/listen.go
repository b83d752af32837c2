package repotest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ClosedAddr returns an address of 127.0.0.1 where nothing listens: a
// port the kernel picked, closed again (a peer that is down, or a port a
// test then gives a process to listen on).
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// StartNATS starts a nats-server in the test's process on a free port of
// 127.0.0.1, shut down when the test ends, and returns its client URL; it
// fails the test if the server is not ready within timeout.
func StartNATS(t testing.TB, timeout time.Duration) string {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	go srv.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	if !srv.ReadyForConnections(timeout) {
		t.Fatalf("nats-server did not start within %v", timeout)
	}
	return srv.ClientURL()
}
