// Package browser tests what a person sees: the demo page of `make run`, in
// headless Chromium, receiving an event sent through the control API.
package browser

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/repotest"
	"github.com/switchboard-rt/switchboard/pkg/control"
	"github.com/switchboard-rt/switchboard/pkg/edge"
)

// The binaries of echo_test.go are built (or found in $SWITCHBOARD_TEST_BIN)
// before any test's clock starts; repotest.Main checks for leaked
// goroutines after, as goleak.VerifyTestMain does.
func TestMain(m *testing.M) { repotest.Main(m, "edge", "control", "echo", "login", "emit", "grpcurl") }

func TestDemoPageReceivesEmit(t *testing.T) {
	root := repotest.Root(t)
	clientJS := filepath.Join(root, "node_modules/socket.io-client/dist/socket.io.min.js")
	for _, need := range []string{clientJS, filepath.Join(root, "node_modules/playwright-core"), "/usr/bin/chromium"} {
		if _, err := os.Stat(need); err != nil {
			t.Fatalf("%s missing: run `make test-deps` (npm ci and Debian's chromium)", need)
		}
	}

	ctl, err := control.New(control.Config{GRPCAddr: "127.0.0.1:0", EmbeddedNATSAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ctlDone := make(chan error, 1)
	go func() { ctlDone <- ctl.Run(ctx) }()

	e, err := edge.New(edge.Config{Addr: "127.0.0.1:0", NATSURL: ctl.NATSURL(), Demo: true, ClientJS: clientJS, HeartbeatInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	edgeCtx, edgeCancel := context.WithCancel(context.Background())
	edgeDone := make(chan error, 1)
	go func() { edgeDone <- e.Run(edgeCtx) }()
	t.Cleanup(func() {
		edgeCancel()
		if err := <-edgeDone; err != nil {
			t.Errorf("edge: %v", err)
		}
		cancel()
		if err := <-ctlDone; err != nil {
			t.Errorf("control: %v", err)
		}
	})

	conn, err := grpc.NewClient(ctl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	api := sbv1.NewControlClient(conn)

	shot := filepath.Join(t.TempDir(), "demo.png")
	if dir := os.Getenv("SWITCHBOARD_ARTIFACTS"); dir != "" {
		shot = filepath.Join(dir, "demo.png")
	}
	runCtx, runCancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer runCancel()
	cmd := exec.CommandContext(runCtx, "node", filepath.Join(root, "test/browser/demo.mjs"), "http://"+e.Addr().String()+"/", shot)
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	next := func(want string) map[string]string {
		t.Helper()
		for lines.Scan() {
			var m map[string]string
			if json.Unmarshal(lines.Bytes(), &m) != nil {
				continue
			}
			if m["event"] == "pageerror" || m["event"] == "httperror" {
				t.Errorf("%s: %s", m["event"], m["message"])
				continue
			}
			if m["event"] == want {
				return m
			}
		}
		t.Fatalf("browser script ended before %q (err %v)", want, cmd.Wait())
		return nil
	}

	connected := next("connected")
	if !strings.HasPrefix(connected["sid"], e.ID()) {
		t.Errorf("page sid %q does not start with the edge id %q", connected["sid"], e.ID())
	}
	// The page is connected: the README's grpcurl call, through the stubs.
	args := []*structpb.Value{structpb.NewStringValue("hi"), structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"n": structpb.NewNumberValue(1)}})}
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	if _, err := api.Emit(rctx, &sbv1.EmitRequest{Event: "chat", Args: args}); err != nil {
		t.Fatalf("Emit: %v", err)
	}
	got := next("received")
	if !strings.Contains(got["log"], "connected as "+connected["sid"]) {
		t.Errorf("page log %q lacks the connect line", got["log"])
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser script: %v", err)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Errorf("no screenshot at %s: %v", shot, err)
	}
}
