package edge_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rt/switchboard/internal/tlsreload/tlstest"
	"github.com/switchboard-rt/switchboard/pkg/edge"
)

// writeSelfSigned writes a certificate for 127.0.0.1 and its key as PEM files.
func writeSelfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestTLS serves the seed app's setup: TLS from certificate and key files,
// on a custom path; both transports handshake over it.
func TestTLS(t *testing.T) {
	certFile, keyFile := writeSelfSigned(t)
	e, err := edge.New(edge.Config{Addr: "127.0.0.1:0", Path: "/ws/socket.io", TLSCertFile: certFile, TLSKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	tlsCfg := &tls.Config{InsecureSkipVerify: true}
	addr := e.Addr().String()

	tr := &http.Transport{TLSClientConfig: tlsCfg}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := client.Get("https://" + addr + "/ws/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), `0{"sid":`) {
		t.Fatalf("polling handshake over TLS: %d %q", resp.StatusCode, body)
	}
	if resp.TLS == nil {
		t.Fatal("response did not come over TLS")
	}

	d := websocket.Dialer{TLSClientConfig: tlsCfg, HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.Dial("wss://"+addr+"/ws/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, open, err := conn.ReadMessage()
	if err != nil || !strings.HasPrefix(string(open), `0{"sid":`) {
		t.Fatalf("websocket open packet over TLS: %q, %v", open, err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	_, connect, err := conn.ReadMessage()
	if err != nil || !strings.HasPrefix(string(connect), `40{"sid":"`) {
		t.Fatalf("socket.io CONNECT over TLS: %q, %v", connect, err)
	}
}

// TestTLSCertificateReload: a certificate swapped on disk is served without
// a restart: a WebSocket client that trusts only the new certificate's CA
// handshakes once the edge has picked it up, and one that trusts only the
// old CA no longer does.
func TestTLSCertificateReload(t *testing.T) {
	dir := t.TempDir()
	ca1, ca2 := tlstest.NewCA(t, "one"), tlstest.NewCA(t, "two")
	certFile, keyFile := ca1.Issue(t, false).Write(t, dir)
	te := startEdge(t, edge.Config{TLSCertFile: certFile, TLSKeyFile: keyFile, TLSReloadInterval: 20 * time.Millisecond}, nil)
	addr := te.Addr().String()
	open := func(pool *x509.CertPool) error {
		d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 2 * time.Second}
		c, _, err := d.Dial("wss://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, b, err := c.ReadMessage()
		if err == nil && !strings.HasPrefix(string(b), `0{"sid":`) {
			err = fmt.Errorf("open packet %q", b)
		}
		return err
	}
	if err := open(ca1.Pool()); err != nil {
		t.Fatalf("before the swap: %v", err)
	}
	if err := open(ca2.Pool()); err == nil {
		t.Fatal("a client trusting only the second CA connected before the swap")
	}
	ca2.Issue(t, false).Write(t, dir)
	eventually(t, "the new certificate served", func() bool { return open(ca2.Pool()) == nil })
	if err := open(ca1.Pool()); err == nil {
		t.Error("a client trusting only the old CA still connects after the swap")
	}
}
