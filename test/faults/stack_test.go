package faults

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

const (
	// startTimeout bounds the start of a binary or a NATS server, and each
	// wait for a log line or for the cluster to form. Generous: under
	// `make test` other packages run beside this one on 2 cores.
	startTimeout = 15 * time.Second
	// stopTimeout bounds a binary's exit after a signal.
	stopTimeout = 10 * time.Second
	// waitTimeout bounds every other wait: a reply, a message.
	waitTimeout = 10 * time.Second
	// heartbeat is the edges' heartbeat interval: control forgets an edge
	// after three without one.
	heartbeat = 500 * time.Millisecond
)

// ---- the binaries ----

// proc is a running binary (repotest.Proc), stopped by its PID when the
// test ends.
type proc struct {
	*repotest.Proc
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return &proc{Proc: repotest.StartProc(t, startTimeout, stopTimeout, name, args...)}
}

func clip(s string) string { return repotest.Clip(s) }

var (
	controlListening = regexp.MustCompile(`msg="control listening" grpc=(127\.0\.0\.1:\d+)`)
	edgeListening    = regexp.MustCompile(`msg="edge listening" edge=([a-z0-9]{8}) .*\baddr=(127\.0\.0\.1:\d+)`)
)

// controlProc is a control binary and a gRPC client of it.
type controlProc struct {
	*proc
	addr string
	api  sbv1.ControlClient
}

// startControl starts control on natsURL (comma-separated servers), its
// gRPC server on a free port.
func startControl(t *testing.T, natsURL string) *controlProc {
	t.Helper()
	p := startProc(t, "control", "--grpc-addr", "127.0.0.1:0", "--nats-url", natsURL, "--gather-timeout", "1s")
	c := &controlProc{proc: p, addr: p.WaitLog(t, controlListening)[1]}
	c.api = sbv1.NewControlClient(dial(t, c.addr))
	return c
}

// dial opens a gRPC connection, closed when the test ends.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient(%s): %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// edgeProc is an edge binary.
type edgeProc struct {
	*proc
	id   string
	addr string // host:port of its Socket.IO listener
}

// startEdge starts an edge with id on natsURL (comma-separated servers),
// listening on a free port.
func startEdge(t *testing.T, id, natsURL string) *edgeProc {
	t.Helper()
	p := startProc(t, "edge", "--addr", "127.0.0.1:0", "--nats-url", natsURL, "--edge-id", id, "--heartbeat", heartbeat.String())
	m := p.WaitLog(t, edgeListening)
	if m[1] != id {
		t.Fatalf("edge listening as %q, want %q", m[1], id)
	}
	return &edgeProc{proc: p, id: id, addr: m[2]}
}

// waitEdges polls api's ClusterInfo until it lists exactly the edges ids.
func waitEdges(t *testing.T, api sbv1.ControlClient, ids ...string) {
	t.Helper()
	want := slices.Sorted(slices.Values(ids))
	var got []string
	var err error
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		got, err = clusterEdges(api)
		if err == nil && slices.Equal(got, want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("ClusterInfo lists edges %v (err %v), want %v within %v", got, err, want, startTimeout)
}

func clusterEdges(api sbv1.ControlClient) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ci, err := api.ClusterInfo(ctx, &sbv1.ClusterInfoRequest{})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ci.Edges {
		ids = append(ids, e.Id)
	}
	slices.Sort(ids)
	return ids, nil
}

// eventually polls cond every 10 ms until it holds or within fails.
func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---- NATS ----

// natsNode is one nats-server of the test, in this process.
type natsNode struct {
	srv *server.Server
	url string // nats://127.0.0.1:port
}

// startNATS starts n nats-servers; with n > 1, clustered (routes on free
// ports of 127.0.0.1, every node given the routes of those started before
// it), and waits until every node has routes to all the others. Each node
// is shut down when the test ends.
func startNATS(t *testing.T, n int) []*natsNode {
	t.Helper()
	var nodes []*natsNode
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("faults-%d", i),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			NoSigs:     true,
			NoLog:      true,
			MaxPayload: 8 << 20,
		}
		if n > 1 {
			opts.Cluster = server.ClusterOpts{Name: "faults", Host: "127.0.0.1", Port: server.RANDOM_PORT}
			for _, prev := range nodes {
				opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats-route", Host: prev.srv.ClusterAddr().String()})
			}
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("nats-server %d: %v", i, err)
		}
		go srv.Start()
		t.Cleanup(func() {
			srv.Shutdown()
			srv.WaitForShutdown()
		})
		if !srv.ReadyForConnections(startTimeout) {
			t.Fatalf("nats-server %d did not start within %v", i, startTimeout)
		}
		nodes = append(nodes, &natsNode{srv: srv, url: srv.ClientURL()})
	}
	if n > 1 {
		eventually(t, "the NATS cluster to form", startTimeout, func() bool {
			for _, nd := range nodes {
				if nd.srv.NumRemotes() != n-1 {
					return false
				}
			}
			return true
		})
	}
	return nodes
}

// urls is the nodes' client URLs, comma-separated, as --nats-url takes.
func urls(nodes []*natsNode) string {
	var us []string
	for _, nd := range nodes {
		us = append(us, nd.url)
	}
	return strings.Join(us, ",")
}

// clients returns how many client connections named name the node holds.
func (nd *natsNode) clients(t *testing.T, name string) int {
	t.Helper()
	if !nd.srv.Running() {
		return 0
	}
	cz, err := nd.srv.Connz(&server.ConnzOptions{Limit: 1 << 16})
	if err != nil {
		t.Fatalf("Connz: %v", err)
	}
	n := 0
	for _, c := range cz.Conns {
		if c.Name == name {
			n++
		}
	}
	return n
}

// nodeOf waits until exactly one of the running nodes holds a connection
// named name and returns its index.
func nodeOf(t *testing.T, nodes []*natsNode, name string) int {
	t.Helper()
	at := -1
	eventually(t, fmt.Sprintf("NATS connection %q", name), startTimeout, func() bool {
		at = -1
		for i, nd := range nodes {
			switch nd.clients(t, name) {
			case 0:
			case 1:
				if at >= 0 {
					return false
				}
				at = i
			default:
				return false
			}
		}
		return at >= 0
	})
	return at
}

// The names the binaries give their NATS connections (pkg/edge/cluster.go,
// pkg/control/control.go).
const controlConnName = "switchboard-control"

func edgeConnName(id string) string { return "switchboard-edge " + id }
