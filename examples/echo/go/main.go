// Command echo is the server side of Flask-SocketIO's example app over
// Switchboard's control API: it serves the page (and the official client
// from node_modules) with a same-origin round-robin reverse proxy of
// /socket.io/ to the edges, and answers the page's events from a Subscribe
// stream through one Pipeline stream, so replies to a client keep their order.
//
// Status: written, compiles; not yet tested (see ../README.md).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

const ns = "/test"

func main() {
	control := flag.String("control", "127.0.0.1:7070", "control's gRPC address")
	addr := flag.String("addr", "127.0.0.1:5000", "address of the page server")
	edges := flag.String("edges", "http://127.0.0.1:8080", "comma-separated edge URLs /socket.io/ is proxied to, round-robin")
	static := flag.String("static", "examples/echo/static", "directory of the page")
	clientDir := flag.String("client-dir", "node_modules/socket.io-client/dist", "directory of socket.io.min.js and its .map")
	certfile := flag.String("certfile", "", "TLS certificate of the page server")
	keyfile := flag.String("keyfile", "", "TLS key of the page server")
	flag.Parse()
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	conn, err := grpc.NewClient(*control, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		logger.Error("dial control", "err", err)
		os.Exit(1)
	}
	defer conn.Close()
	api := sbv1.NewControlClient(conn)

	srv := &http.Server{Addr: *addr, Handler: pageHandler(*static, *clientDir, strings.Split(*edges, ","))}
	go func() {
		var err error
		if *certfile != "" {
			err = srv.ListenAndServeTLS(*certfile, *keyfile)
		} else {
			err = srv.ListenAndServe()
		}
		if err != nil && err != http.ErrServerClosed {
			logger.Error("page server", "err", err)
			stop()
		}
	}()
	logger.Info("echo listening", "addr", *addr)
	err = serve(ctx, api, logger)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err != nil && ctx.Err() == nil {
		logger.Error("serve", "err", err)
		os.Exit(1)
	}
}

// pageHandler serves the page, the client and the proxy to the edges.
func pageHandler(static, clientDir string, edges []string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(static)))
	mux.Handle("/static/socket.io.min.js", http.StripPrefix("/static/", http.FileServer(http.Dir(clientDir))))
	mux.Handle("/static/socket.io.min.js.map", http.StripPrefix("/static/", http.FileServer(http.Dir(clientDir))))
	mux.Handle("/static/echo.js", http.StripPrefix("/static/", http.FileServer(http.Dir(static))))
	var next atomic.Uint64
	var targets []*url.URL
	for _, e := range edges {
		if u, err := url.Parse(strings.TrimSpace(e)); err == nil {
			targets = append(targets, u)
		}
	}
	mux.Handle("/socket.io/", &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(targets[next.Add(1)%uint64(len(targets))])
		r.Out.Host = r.In.Host
	}})
	return mux
}

type session struct {
	Count int `json:"count"`
}

// serve answers the page's events until ctx ends.
func serve(ctx context.Context, api sbv1.ControlClient, logger *slog.Logger) error {
	pipe, err := api.Pipeline(ctx)
	if err != nil {
		return err
	}
	var mu sync.Mutex // guards the pipeline's sends and ids
	var id uint64
	acks := map[uint64]string{} // emit_with_ack id → sid, guarded by mu
	send := func(r *sbv1.PipelineRequest) error {
		mu.Lock()
		defer mu.Unlock()
		id++
		r.Id = id
		if _, ok := r.Command.(*sbv1.PipelineRequest_EmitWithAck); ok {
			acks[id] = r.GetEmitWithAck().GetTarget().GetSids()[0]
		}
		return pipe.Send(r)
	}
	go func() {
		for {
			resp, err := pipe.Recv()
			if err != nil {
				return
			}
			mu.Lock()
			sid, ok := acks[resp.GetId()]
			delete(acks, resp.GetId())
			mu.Unlock()
			if e := resp.GetError(); e != nil {
				logger.Warn("command failed", "id", resp.GetId(), "code", e.GetCode(), "message", e.GetMessage())
			} else if ok {
				if len(resp.GetEmitWithAck().GetAcks()) > 0 {
					logger.Info("ack received", "sid", sid)
				} else {
					logger.Warn("no ack", "sid", sid, "timed_out", resp.GetEmitWithAck().GetTimedOutSids())
				}
			}
		}
	}()
	sub, err := api.Subscribe(ctx, &sbv1.SubscribeRequest{Namespaces: []string{ns},
		Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CLIENT_EVENT, sbv1.EventKind_EVENT_KIND_CONNECT, sbv1.EventKind_EVENT_KIND_DISCONNECT}})
	if err != nil {
		return err
	}
	to := func(sid string) *sbv1.Target { return &sbv1.Target{Namespace: ns, Sids: []string{sid}} }
	reply := func(sid, data string, count int, ack bool) error {
		args, _ := json.Marshal([]any{map[string]any{"data": data, "count": count}})
		if ack {
			return send(&sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_EmitWithAck{EmitWithAck: &sbv1.EmitWithAckRequest{
				Target: to(sid), Event: "my_response", ArgsJson: string(args)}}})
		}
		return send(&sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_Emit{Emit: &sbv1.EmitRequest{
			Target: to(sid), Event: "my_response", ArgsJson: string(args)}}})
	}
	for {
		ev, err := sub.Recv()
		if err != nil {
			return err
		}
		switch e := ev.Event.(type) {
		case *sbv1.SubscribeResponse_Connected:
			sid := e.Connected.GetSocket().GetSid()
			logger.Info("connected", "sid", sid)
			err = reply(sid, "Server connected", 0, false)
		case *sbv1.SubscribeResponse_Disconnected:
			logger.Info("client disconnected", "sid", e.Disconnected.GetSid(), "reason", e.Disconnected.GetReason())
		case *sbv1.SubscribeResponse_ClientEvent:
			err = handle(e.ClientEvent, send, reply, to)
		}
		if err != nil {
			return err
		}
	}
}

// handle answers one client event.
func handle(ce *sbv1.ClientEvent, send func(*sbv1.PipelineRequest) error, reply func(string, string, int, bool) error, to func(string) *sbv1.Target) error {
	var args []struct {
		Data string `json:"data"`
		Room string `json:"room"`
	}
	_ = json.Unmarshal([]byte(ce.GetArgsJson()), &args)
	var msg struct{ Data, Room string }
	if len(args) > 0 {
		msg.Data, msg.Room = args[0].Data, args[0].Room
	}
	var s session
	_ = json.Unmarshal([]byte(ce.GetDataJson()), &s)
	bump := func() (int, error) {
		s.Count++
		d, _ := json.Marshal(s)
		return s.Count, send(&sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_SetSocketData{SetSocketData: &sbv1.SetSocketDataRequest{
			Target: to(ce.GetSid()), DataJson: string(d), Merge: true}}})
	}
	sid := ce.GetSid()
	switch ce.GetEvent() {
	case "my_event":
		n, err := bump()
		if err != nil {
			return err
		}
		return reply(sid, msg.Data, n, true)
	case "my_broadcast_event":
		n, err := bump()
		if err != nil {
			return err
		}
		a, _ := json.Marshal([]any{map[string]any{"data": msg.Data, "count": n}})
		return send(&sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_Emit{Emit: &sbv1.EmitRequest{
			Target: &sbv1.Target{Namespace: ns, All: true}, Event: "my_response", ArgsJson: string(a)}}})
	case "join", "leave":
		if ce.GetEvent() == "join" {
			if err := send(&sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_JoinRoom{JoinRoom: &sbv1.JoinRoomRequest{Target: to(sid), Rooms: []string{msg.Room}}}}); err != nil {
				return err
			}
		} else if err := send(&sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_LeaveRoom{LeaveRoom: &sbv1.LeaveRoomRequest{Target: to(sid), Rooms: []string{msg.Room}}}}); err != nil {
			return err
		}
		n, err := bump()
		if err != nil {
			return err
		}
		return reply(sid, "In rooms: "+msg.Room, n, false)
	case "my_room_event":
		n, err := bump()
		if err != nil {
			return err
		}
		a, _ := json.Marshal([]any{map[string]any{"data": msg.Data, "count": n}})
		return send(&sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_Emit{Emit: &sbv1.EmitRequest{
			Target: &sbv1.Target{Namespace: ns, Rooms: []string{msg.Room}}, Event: "my_response", ArgsJson: string(a)}}})
	case "disconnect_request":
		n, err := bump()
		if err != nil {
			return err
		}
		if err := reply(sid, "Disconnected!", n, false); err != nil {
			return err
		}
		return send(&sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_Disconnect{Disconnect: &sbv1.DisconnectRequest{Target: to(sid)}}})
	case "my_ping":
		if tok := ce.GetAckToken(); tok != "" {
			return send(&sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_Ack{Ack: &sbv1.AckRequest{AckToken: tok}}})
		}
	}
	return nil
}
