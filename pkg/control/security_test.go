package control_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/tlsreload/tlstest"
	"github.com/switchboard-rt/switchboard/pkg/control"
)

// TestAPIKeysFile: the keys of --api-keys-file are accepted, a wrong or
// missing key is Unauthenticated; a key added to the file works and one
// removed stops working without a restart; a file that no longer reads
// keeps the previous keys. Keys given directly stay valid throughout.
func TestAPIKeysFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keys")
	tlstest.WriteFile(t, file, []byte("# service keys\nkey-one\n\n"))
	tc := startControl(t, control.Config{EmbeddedNATSAddr: "127.0.0.1:0", APIKeys: []string{"static-key"}, APIKeysFile: file, ReloadInterval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	call := func(key string) codes.Code {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if key != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
		}
		_, err := tc.api.ClusterInfo(ctx, &sbv1.ClusterInfoRequest{})
		return status.Code(err)
	}
	for key, want := range map[string]codes.Code{"key-one": codes.OK, "static-key": codes.OK, "key-two": codes.Unauthenticated, "": codes.Unauthenticated, "# service keys": codes.Unauthenticated} {
		if got := call(key); got != want {
			t.Errorf("key %q: %v, want %v", key, got, want)
		}
	}

	tlstest.WriteFile(t, file, []byte("key-two\n"))
	eventually(t, "key-two accepted after the file changed", func() bool { return call("key-two") == codes.OK })
	if got := call("key-one"); got != codes.Unauthenticated {
		t.Errorf("key-one after its removal: %v, want Unauthenticated", got)
	}

	tlstest.WriteFile(t, file, []byte("key three with spaces\n"))
	time.Sleep(200 * time.Millisecond) // ten checks of the file
	if got := call("key-two"); got != codes.OK {
		t.Errorf("key-two after a change that does not read: %v, want the previous keys kept", got)
	}
	if got := call("static-key"); got != codes.OK {
		t.Errorf("static key: %v", got)
	}
}

// TestTLSReloadAndMutualTLS: gRPC over TLS from files that reload, with a
// client CA: a client without a certificate is refused, one with a
// certificate of the CA is served, and the server's certificate swapped on
// disk is served to new connections without a restart.
func TestTLSReloadAndMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca1, ca2, clients := tlstest.NewCA(t, "one"), tlstest.NewCA(t, "two"), tlstest.NewCA(t, "clients")
	certFile, keyFile := ca1.Issue(t, false).Write(t, dir)
	caFile := filepath.Join(dir, "clients.pem")
	tlstest.WriteFile(t, caFile, clients.PEM)
	tc := startControl(t, control.Config{EmbeddedNATSAddr: "127.0.0.1:0", TLSCertFile: certFile, TLSKeyFile: keyFile, TLSClientCAFile: caFile, ReloadInterval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	leaf := clients.Issue(t, true)
	clientCert, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	call := func(roots *x509.CertPool, cert *tls.Certificate) error {
		cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		cc, err := grpc.NewClient(tc.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			return err
		}
		defer cc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err = sbv1.NewControlClient(cc).ClusterInfo(ctx, &sbv1.ClusterInfoRequest{})
		return err
	}
	if err := call(ca1.Pool(), &clientCert); err != nil {
		t.Fatalf("client certificate of the CA: %v", err)
	}
	if err := call(ca1.Pool(), nil); status.Code(err) != codes.Unavailable {
		t.Errorf("no client certificate: %v, want the connection refused (Unavailable)", err)
	}
	ca2.Issue(t, false).Write(t, dir)
	eventually(t, "the new server certificate", func() bool { return call(ca2.Pool(), &clientCert) == nil })
	if err := call(ca1.Pool(), &clientCert); err == nil {
		t.Error("a client trusting only the old CA still connects")
	}
}

// TestClientCAWithoutTLS: a client CA file without TLS is refused at start.
func TestClientCAWithoutTLS(t *testing.T) {
	_, err := control.New(control.Config{GRPCAddr: "127.0.0.1:0", EmbeddedNATSAddr: "127.0.0.1:0", TLSClientCAFile: "ca.pem", Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Fatal("New accepted a client CA without TLS")
	}
}
