package tlsreload_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/internal/tlsreload"
	"github.com/switchboard-rt/switchboard/internal/tlsreload/tlstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve accepts TLS connections with cfg until the test ends, completing
// each handshake and closing.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_, _ = c.Write([]byte("x"))
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// dial handshakes trusting pool (and presenting cert, if any) and returns
// the serial of the server's leaf.
func dial(addr string, pool *x509.CertPool, cert *tls.Certificate) (*big.Int, error) {
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// TLS 1.3 reports a refused client certificate on the first read.
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return nil, err
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReloadOnChange: the certificate swapped on disk is served to new
// connections without a restart; a swap to files that do not load keeps
// the previous certificate and is counted.
func TestReloadOnChange(t *testing.T) {
	dir := t.TempDir()
	ca1, ca2 := tlstest.NewCA(t, "one"), tlstest.NewCA(t, "two")
	leaf1 := ca1.Issue(t, false)
	certFile, keyFile := leaf1.Write(t, dir)
	r, err := tlsreload.New(tlsreload.Config{CertFile: certFile, KeyFile: keyFile, Interval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(r.Stop)
	addr := serve(t, r.ServerConfig(nil))
	if s, err := dial(addr, ca1.Pool(), nil); err != nil || s.Cmp(leaf1.Serial) != 0 {
		t.Fatalf("before the swap: serial %v, %v; want %v", s, err, leaf1.Serial)
	}

	leaf2 := ca2.Issue(t, false)
	leaf2.Write(t, dir)
	eventually(t, "the new certificate served", func() bool {
		s, err := dial(addr, ca2.Pool(), nil)
		return err == nil && s.Cmp(leaf2.Serial) == 0
	})
	if _, err := dial(addr, ca1.Pool(), nil); err == nil {
		t.Error("a client trusting only the old CA still connects")
	}
	if r.Reloads() < 1 {
		t.Errorf("reloads = %d", r.Reloads())
	}

	// A key that does not match: refused, the old pair still served.
	tlstest.WriteFile(t, keyFile, ca1.Issue(t, false).KeyPEM)
	eventually(t, "the bad change counted", func() bool { return r.Failures() >= 1 })
	if s, err := dial(addr, ca2.Pool(), nil); err != nil || s.Cmp(leaf2.Serial) != 0 {
		t.Errorf("after a bad change: serial %v, %v; want the previous %v", s, err, leaf2.Serial)
	}
}

// TestMutualTLS: with a client CA file, a client without a certificate, or
// with one another CA signed, is refused; one the CA signed connects; the
// CA file reloads like the certificate.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA, clients1, clients2 := tlstest.NewCA(t, "server"), tlstest.NewCA(t, "clients1"), tlstest.NewCA(t, "clients2")
	certFile, keyFile := serverCA.Issue(t, false).Write(t, dir)
	caFile := filepath.Join(dir, "clients.pem")
	tlstest.WriteFile(t, caFile, clients1.PEM)
	r, err := tlsreload.New(tlsreload.Config{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile, Interval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(r.Stop)
	addr := serve(t, r.ServerConfig(nil))
	pair := func(ca *tlstest.CA) *tls.Certificate {
		l := ca.Issue(t, true)
		c, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return &c
	}
	c1, c2 := pair(clients1), pair(clients2)
	if _, err := dial(addr, serverCA.Pool(), nil); err == nil {
		t.Error("a client without a certificate connected")
	}
	if _, err := dial(addr, serverCA.Pool(), c2); err == nil {
		t.Error("a client certificate of another CA was accepted")
	}
	if _, err := dial(addr, serverCA.Pool(), c1); err != nil {
		t.Errorf("a client certificate of the CA: %v", err)
	}
	tlstest.WriteFile(t, caFile, clients2.PEM)
	eventually(t, "the new client CA", func() bool {
		_, err := dial(addr, serverCA.Pool(), c2)
		return err == nil
	})
	if _, err := dial(addr, serverCA.Pool(), c1); err == nil {
		t.Error("the old client CA is still trusted")
	}
}

// TestNewRefusesBadFiles: a pair that does not load is an error at start.
func TestNewRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "x")
	certFile, keyFile := ca.Issue(t, false).Write(t, dir)
	tlstest.WriteFile(t, keyFile, ca.Issue(t, false).KeyPEM)
	if _, err := tlsreload.New(tlsreload.Config{CertFile: certFile, KeyFile: keyFile}); err == nil {
		t.Error("a mismatched key was accepted")
	}
	caFile := filepath.Join(dir, "ca.pem")
	tlstest.WriteFile(t, caFile, []byte("not PEM"))
	certFile, keyFile = ca.Issue(t, false).Write(t, dir)
	if _, err := tlsreload.New(tlsreload.Config{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}); err == nil {
		t.Error("a CA file without a certificate was accepted")
	}
}
