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
	"strconv"
	"strings"
	"sync/atomic"
)

// maxOpenPacket bounds the polling handshake body the proxy reads to
// rewrite its sid; an edge's is about 120 bytes.
const maxOpenPacket = 64 << 10

// edgeProxy forwards /socket.io/ to the edges, as nginx or HAProxy would in
// front of them, so that the page and the socket.io connection share one
// origin (no CORS). A new Engine.IO session (a request without a sid) goes
// to the next edge, round-robin. Every later request of that session must
// reach the same edge, which alone knows the session: instead of a table of
// sessions, the proxy prefixes the sid of the polling handshake's open
// packet with the edge's index ("1.Ab3…") and strips it from the sid of
// each later request. It keeps no state but the round-robin counter. A
// WebSocket-only client (no polling handshake) needs none of this: its
// session is one connection.
type edgeProxy struct {
	targets []*url.URL
	next    atomic.Uint64 // handshakes so far: the next edge's index
	rp      *httputil.ReverseProxy
	logger  *slog.Logger
}

type edgeIndexKey struct{}

// newEdgeProxy proxies to the edge URLs (http://host:port).
func newEdgeProxy(edges []string, logger *slog.Logger) (*edgeProxy, error) {
	p := &edgeProxy{logger: logger}
	for _, e := range edges {
		u, err := url.Parse(strings.TrimSpace(e))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("edge %q is not an http:// or https:// URL", e)
		}
		p.targets = append(p.targets, u)
	}
	if len(p.targets) == 0 {
		return nil, errors.New("no edges")
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(p.targets[r.In.Context().Value(edgeIndexKey{}).(int)])
			r.Out.Host = r.In.Host // the edge checks a WebSocket's Origin against it
		},
		ModifyResponse: p.rewriteOpen,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// An edge that is down: the client's request fails, and
			// socket.io-client reconnects, through the next edge.
			p.logger.Warn("edge unreachable", "edge", p.targets[r.Context().Value(edgeIndexKey{}).(int)].Host, "err", err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	return p, nil
}

func (p *edgeProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var i int
	if sid := q.Get("sid"); sid == "" {
		i = int((p.next.Add(1) - 1) % uint64(len(p.targets)))
	} else {
		idx, rest, ok := strings.Cut(sid, ".")
		n, err := strconv.Atoi(idx)
		if !ok || err != nil || n < 0 || n >= len(p.targets) || rest == "" {
			// What an edge answers for a sid it does not know: the
			// client starts a new session.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"code":1,"message":"Session ID unknown"}`)
			return
		}
		i = n
		q.Set("sid", rest)
		r.URL.RawQuery = q.Encode()
	}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), edgeIndexKey{}, i)))
}

// rewriteOpen prefixes the sid of a polling handshake's open packet
// (`0{"sid":…}`) with the index of the edge that made it.
func (p *edgeProxy) rewriteOpen(resp *http.Response) error {
	req := resp.Request
	if req.Method != http.MethodGet || req.URL.Query().Get("sid") != "" ||
		req.URL.Query().Get("transport") != "polling" || resp.StatusCode != http.StatusOK {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOpenPacket+1))
	resp.Body.Close()
	if err != nil {
		return err
	}
	if len(body) > maxOpenPacket {
		return fmt.Errorf("handshake body over %d bytes", maxOpenPacket)
	}
	first, rest, _ := bytes.Cut(body, []byte{0x1e}) // the payload's packet separator
	var open map[string]json.RawMessage
	var sid string
	if len(first) == 0 || first[0] != '0' || json.Unmarshal(first[1:], &open) != nil || json.Unmarshal(open["sid"], &sid) != nil || sid == "" {
		return fmt.Errorf("handshake answer is not an open packet: %.100q", body)
	}
	open["sid"], _ = json.Marshal(fmt.Sprintf("%d.%s", req.Context().Value(edgeIndexKey{}).(int), sid))
	b, _ := json.Marshal(open)
	out := append([]byte{'0'}, b...)
	if len(rest) > 0 || bytes.IndexByte(body, 0x1e) >= 0 {
		out = append(append(out, 0x1e), rest...)
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return nil
}
