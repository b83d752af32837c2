// Package tlsreload serves a TLS certificate (and, for mutual TLS, a client
// CA bundle) from files that may change while the process runs: a
// certificate renewed on disk, a Kubernetes Secret whose mounted files are
// swapped, is served to new connections without a restart.
//
// The files are polled (their modification time, size and identity, so a
// symlink pointed elsewhere counts as a change). A change is loaded whole
// and checked (the key must match the certificate, the CA file must hold
// a certificate) before it replaces what is served; a change that does not
// load keeps the previous files in service, is logged once and counted.
package tlsreload

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Config names the files.
type Config struct {
	CertFile, KeyFile string
	// ClientCAFile, when set, makes the server require and verify a client
	// certificate signed by one of its certificates (mutual TLS).
	ClientCAFile string
	// Interval between checks of the files; zero means 5s.
	Interval time.Duration
	Logger   *slog.Logger
}

// Reloader serves the files' current contents. Start it to follow changes;
// Stop ends that.
type Reloader struct {
	cfg   Config
	cur   atomic.Pointer[loaded]
	stamp []os.FileInfo // the files as last loaded or tried; the poller's own

	reloads, failures atomic.Uint64

	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	started atomic.Bool
}

type loaded struct {
	cert *tls.Certificate
	cas  *x509.CertPool // nil without ClientCAFile
}

// New loads the files once; an error names the file that would not load.
func New(cfg Config) (*Reloader, error) {
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("tlsreload: a certificate and a key file are needed")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Reloader{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	r.stamp = r.stat()
	l, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cur.Store(l)
	return r, nil
}

func (r *Reloader) files() []string {
	fs := []string{r.cfg.CertFile, r.cfg.KeyFile}
	if r.cfg.ClientCAFile != "" {
		fs = append(fs, r.cfg.ClientCAFile)
	}
	return fs
}

// stat describes the files now (nil entries for those that cannot be read).
func (r *Reloader) stat() []os.FileInfo {
	var out []os.FileInfo
	for _, f := range r.files() {
		fi, err := os.Stat(f)
		if err != nil {
			fi = nil
		}
		out = append(out, fi)
	}
	return out
}

func changed(a, b []os.FileInfo) bool {
	for i := range a {
		x, y := a[i], b[i]
		if (x == nil) != (y == nil) {
			return true
		}
		if x != nil && (!x.ModTime().Equal(y.ModTime()) || x.Size() != y.Size() || !os.SameFile(x, y)) {
			return true
		}
	}
	return false
}

func (r *Reloader) load() (*loaded, error) {
	cert, err := tls.LoadX509KeyPair(r.cfg.CertFile, r.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS key pair %s, %s: %w", r.cfg.CertFile, r.cfg.KeyFile, err)
	}
	l := &loaded{cert: &cert}
	if r.cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(r.cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client CA file: %w", err)
		}
		l.cas = x509.NewCertPool()
		if !l.cas.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA file %s: no PEM certificate in it", r.cfg.ClientCAFile)
		}
	}
	return l, nil
}

// Start follows the files until Stop.
func (r *Reloader) Start() {
	if !r.started.CompareAndSwap(false, true) {
		return
	}
	go r.run()
}

// Stop ends following the files and waits for it; what was loaded is still
// served.
func (r *Reloader) Stop() {
	r.once.Do(func() { close(r.stop) })
	if r.started.Load() {
		<-r.done
	}
}

func (r *Reloader) run() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		r.Check()
	}
}

// Check loads the files if they changed since the last check. It runs on
// the poller's goroutine; a test may call it instead of waiting (not
// concurrently with Start).
func (r *Reloader) Check() {
	now := r.stat()
	if !changed(r.stamp, now) {
		return
	}
	r.stamp = now
	l, err := r.load()
	if err != nil {
		r.failures.Add(1)
		r.cfg.Logger.Warn("TLS files changed but do not load: still serving the previous ones", "err", err)
		return
	}
	r.cur.Store(l)
	r.reloads.Add(1)
	r.cfg.Logger.Info("TLS files reloaded", "cert", r.cfg.CertFile)
}

// Reloads and Failures count the changes loaded and those refused.
func (r *Reloader) Reloads() uint64  { return r.reloads.Load() }
func (r *Reloader) Failures() uint64 { return r.failures.Load() }

// ServerConfig returns base (or a new config) serving the current
// certificate and, with a client CA file, requiring a client certificate
// it signed.
func (r *Reloader) ServerConfig(base *tls.Config) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if base != nil {
		c = base.Clone()
	}
	c.Certificates = nil
	c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.cur.Load().cert, nil }
	if r.cfg.ClientCAFile != "" {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		tmpl := c.Clone()
		c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cc := tmpl.Clone()
			cc.ClientCAs = r.cur.Load().cas
			return cc, nil
		}
	}
	return c
}
