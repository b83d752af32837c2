// Command emit is the login example's cron job: a one-shot emitter from
// outside the web app, the Switchboard form of Flask-SocketIO's
// SocketIO(message_queue=...).emit('message', 'Hi'):
//
//	emit --control 127.0.0.1:50051 message Hi
//	emit --control 127.0.0.1:50051 --json --to lobby news '{"title":"up"}'
//
// It sends one Emit through control's gRPC API and exits: status 0 once
// control took the event, 1 when control refused it or could not be
// reached within --timeout, 2 for bad arguments.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

func main() {
	control := flag.String("control", "127.0.0.1:50051", "control's gRPC address")
	namespace := flag.String("namespace", "/", "namespace of the sockets")
	to := flag.String("to", "", "a room to emit to; empty: every socket of the namespace")
	asJSON := flag.Bool("json", false, "the argument is JSON (an object, a number…), not a string")
	timeout := flag.Duration("timeout", 5*time.Second, "deadline of the call")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: emit [flags] EVENT ARG\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	event, arg := flag.Arg(0), flag.Arg(1)
	args, err := argsJSON(arg, *asJSON)
	if err != nil {
		fmt.Fprintln(os.Stderr, "emit:", err)
		os.Exit(2)
	}
	target := &sbv1.Target{Namespace: *namespace}
	if *to != "" {
		target.Rooms = []string{*to}
	}
	if err := emit(*control, *timeout, &sbv1.EmitRequest{Target: target, Event: event, ArgsJson: args}); err != nil {
		fmt.Fprintln(os.Stderr, "emit:", err)
		os.Exit(1)
	}
}

// argsJSON is the one-argument array of the event.
func argsJSON(arg string, asJSON bool) (string, error) {
	if !asJSON {
		b, err := json.Marshal([]string{arg})
		return string(b), err
	}
	if !json.Valid([]byte(arg)) {
		return "", fmt.Errorf("--json: %q is not JSON", arg)
	}
	return "[" + arg + "]", nil
}

func emit(addr string, timeout time.Duration, req *sbv1.EmitRequest) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("control %s: %w", addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// WaitForReady: a control that is starting gets until the deadline.
	if _, err := sbv1.NewControlClient(conn).Emit(ctx, req, grpc.WaitForReady(true)); err != nil {
		s := status.Convert(err)
		return fmt.Errorf("control %s: %s: %s", addr, s.Code(), s.Message())
	}
	return nil
}
