package control

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// apiKeys are the bearer keys calls may carry: Config.APIKeys, and those of
// Config.APIKeysFile, which is re-read when it changes. A key's text is
// never logged.
type apiKeys struct {
	static   []string
	file     string
	interval time.Duration
	log      *slog.Logger

	fromFile atomic.Pointer[[]string]
	stamp    os.FileInfo // the file as last loaded or tried; the poller's own

	reloads, failures atomic.Uint64

	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	started atomic.Bool
}

// newAPIKeys reads the file once; an error names the file and the line.
func newAPIKeys(static []string, file string, interval time.Duration, log *slog.Logger) (*apiKeys, error) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	k := &apiKeys{static: static, file: file, interval: interval, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	if file != "" {
		k.stamp, _ = os.Stat(file)
		keys, err := readKeyFile(file)
		if err != nil {
			return nil, err
		}
		k.fromFile.Store(&keys)
	}
	return k, nil
}

// readKeyFile reads one key per line; blank lines and lines starting with
// # are skipped. A key no gRPC client can send (not printable ASCII) is an
// error naming its line, not its text.
func readKeyFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("API keys file: %w", err)
	}
	var keys []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, c := range line {
			if c < '!' || c > '~' {
				return nil, fmt.Errorf("API keys file %s, line %d: a key is printable ASCII without spaces", path, n)
			}
		}
		keys = append(keys, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("API keys file %s: %w", path, err)
	}
	return keys, nil
}

// enabled reports whether calls need a key: keys are configured, or a file
// is (even an empty one: then no call is let in).
func (k *apiKeys) enabled() bool { return len(k.static) > 0 || k.file != "" }

// valid reports whether token is one of the keys, comparing in constant
// time per key.
func (k *apiKeys) valid(token string) bool {
	ok := false
	check := func(keys []string) {
		for _, key := range keys {
			if subtle.ConstantTimeCompare([]byte(token), []byte(key)) == 1 {
				ok = true
			}
		}
	}
	check(k.static)
	if f := k.fromFile.Load(); f != nil {
		check(*f)
	}
	return ok
}

func (k *apiKeys) start() {
	if k.file == "" || !k.started.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer close(k.done)
		t := time.NewTicker(k.interval)
		defer t.Stop()
		for {
			select {
			case <-k.stop:
				return
			case <-t.C:
			}
			k.check()
		}
	}()
}

func (k *apiKeys) close() {
	k.once.Do(func() { close(k.stop) })
	if k.started.Load() {
		<-k.done
	}
}

// check re-reads the file if it changed. One that does not read keeps the
// previous keys.
func (k *apiKeys) check() {
	fi, _ := os.Stat(k.file)
	if !fileChanged(k.stamp, fi) {
		return
	}
	k.stamp = fi
	keys, err := readKeyFile(k.file)
	if err != nil {
		k.failures.Add(1)
		k.log.Warn("control: API keys file changed but does not read: keeping the previous keys", "err", err)
		return
	}
	k.fromFile.Store(&keys)
	k.reloads.Add(1)
	k.log.Info("control: API keys file reloaded", "file", k.file, "keys", len(keys))
}

func fileChanged(a, b os.FileInfo) bool {
	if (a == nil) != (b == nil) {
		return true
	}
	return a != nil && (!a.ModTime().Equal(b.ModTime()) || a.Size() != b.Size() || !os.SameFile(a, b))
}
