package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

const (
	// maxAPIBody bounds what /api/ reads; a larger body is a 413.
	maxAPIBody = 64 << 10
	// emitTimeout bounds /api/'s Emit call to control.
	emitTimeout = 5 * time.Second
	// socketPath is where the page's client connects, proxied to the edge.
	socketPath = "/ws/socket.io/"
)

// app serves the page, /login, /logout and /api/.
type app struct {
	sessions *sessions
	api      sbv1.ControlClient
	logger   *slog.Logger
}

func (a *app) routes(static, clientDir string, proxy http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", http.FileServer(http.Dir(static)))
	mux.Handle("GET /static/login.js", http.StripPrefix("/static/", http.FileServer(http.Dir(static))))
	for _, f := range []string{"socket.io.min.js", "socket.io.min.js.map"} {
		path := filepath.Join(clientDir, f)
		mux.HandleFunc("GET /static/"+f, func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) })
	}
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("POST /api/", a.emit)
	mux.Handle(socketPath, proxy)
	return mux
}

// login sets a session cookie for the form's user (or "guest") and sends
// the browser back to the page, whose socket then connects.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	user := r.PostFormValue("user")
	if user == "" {
		user = "guest"
	}
	if len(user) > maxUser || !utf8.ValidString(user) {
		http.Error(w, fmt.Sprintf("user: 1 to %d bytes of UTF-8", maxUser), http.StatusBadRequest)
		return
	}
	http.SetCookie(w, a.sessions.cookie(user, time.Now()))
	a.logger.Info("logged in", "user", user)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// apiRequest is /api/'s body; json.RawMessage keeps each field's JSON so
// that its type can be checked.
type apiRequest struct {
	Channel json.RawMessage `json:"channel"`
	Body    json.RawMessage `json:"body"`
}

// emit validates {"channel": string, "body": string or object} and emits
// event channel with body to every socket of "/" through control. Bad
// input is a 400 (413 when too large) with a JSON {"error": ...}; control
// unreachable or failing is a 502.
func (a *app) emit(w http.ResponseWriter, r *http.Request) {
	req, err := decodeAPI(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		code := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			code = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, code, map[string]string{"error": err.Error()})
		return
	}
	var channel string
	_ = json.Unmarshal(req.Channel, &channel) // checked by decodeAPI
	ctx, cancel := context.WithTimeout(r.Context(), emitTimeout)
	defer cancel()
	_, err = a.api.Emit(ctx, &sbv1.EmitRequest{Event: channel, ArgsJson: "[" + string(req.Body) + "]"})
	if err != nil {
		if status.Code(err) == codes.InvalidArgument {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": status.Convert(err).Message()})
			return
		}
		a.logger.Warn("emit failed", "channel", channel, "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "control: " + status.Convert(err).Message()})
		return
	}
	a.logger.Info("emitted", "channel", channel)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// decodeAPI reads one JSON object and checks its two fields' types.
func decodeAPI(r io.Reader) (apiRequest, error) {
	var req apiRequest
	dec := json.NewDecoder(r)
	if err := dec.Decode(&req); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return req, err
		}
		return req, fmt.Errorf("body is not a JSON object: %v", err)
	}
	if dec.More() {
		return req, errors.New("body holds more than one JSON value")
	}
	if req.Channel == nil {
		return req, errors.New(`"channel" is missing`)
	}
	var channel string
	if json.Unmarshal(req.Channel, &channel) != nil {
		return req, errors.New(`"channel" must be a string`)
	}
	if channel == "" {
		return req, errors.New(`"channel" must not be empty`)
	}
	if req.Body == nil {
		return req, errors.New(`"body" is missing`)
	}
	switch bytes.TrimLeft(req.Body, " \t\r\n")[0] {
	case '"', '{':
	default:
		return req, errors.New(`"body" must be a string or an object`)
	}
	return req, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// newEdgeProxy forwards /ws/socket.io/ to the edge, on the page's origin,
// as nginx would in front of it (WebSocket upgrades included). The Host
// header is kept: the edge checks a WebSocket's Origin against it.
func newEdgeProxy(edge *url.URL, logger *slog.Logger) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(edge)
			r.SetXForwarded()
			r.Out.Host = r.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// The edge is down: the request fails and socket.io-client
			// retries with its reconnection delays.
			logger.Warn("edge unreachable", "edge", edge.Host, "err", err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}
