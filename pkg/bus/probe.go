package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// ProbeHeader marks a readiness probe: a request a process sends to itself
// through one of its own subscriptions. The subscriber answers it at once,
// with an empty reply, from where its real messages are handled, and takes
// no other action. Ordinary messages carry no headers, so telling a probe
// apart costs a nil check.
const ProbeHeader = "Switchboard-Probe"

// IsProbe reports whether m is a readiness probe, and for a probe whether it
// names self (the token the prober put in the header): a subject several
// processes subscribe must be answered only by the one that asked.
func IsProbe(m *nats.Msg, self string) (probe, mine bool) {
	if m.Header == nil {
		return false, false
	}
	v := m.Header.Get(ProbeHeader)
	if v == "" {
		return false, false
	}
	return true, v == self
}

// ProbeMsg is the probe a prober sends on subject, naming self.
func ProbeMsg(subject, self string) *nats.Msg {
	return &nats.Msg{Subject: subject, Header: nats.Header{ProbeHeader: []string{self}}}
}

// ProberConfig configures a Prober.
type ProberConfig struct {
	// Interval between probes; zero or negative: no probes, Err is nil.
	Interval time.Duration
	// Timeout of one probe; default Interval, at most 5 s.
	Timeout time.Duration
	// FailAfter is how many probes in a row must fail before Err reports
	// it; default 2. One that succeeds clears it.
	FailAfter int
	// Probe makes one round trip; it returns nil when the answer came.
	Probe func(ctx context.Context) error
	// OnChange, if set, is called from the prober's goroutine when Err
	// turns non-nil or nil again.
	OnChange func(err error)
}

// Prober checks a round trip through NATS periodically: a subscription that
// silently stopped delivering (removed at the server, its handler stuck, its
// queue full) answers no probe, while the connection itself still reads
// CONNECTED. Its goroutine runs from Start until Stop.
type Prober struct {
	cfg      ProberConfig
	failures atomic.Uint64 // probes that failed, in all
	err      atomic.Pointer[error]

	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	started atomic.Bool
}

// NewProber returns a prober; Start runs it.
func NewProber(cfg ProberConfig) *Prober {
	if cfg.Timeout <= 0 || cfg.Timeout > cfg.Interval {
		cfg.Timeout = cfg.Interval
	}
	if cfg.Timeout > 5*time.Second {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.FailAfter <= 0 {
		cfg.FailAfter = 2
	}
	return &Prober{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
}

// Start runs the probes until Stop. With no interval it does nothing.
func (p *Prober) Start() {
	if p.cfg.Interval <= 0 || !p.started.CompareAndSwap(false, true) {
		return
	}
	go p.run()
}

// Stop ends the probes and waits for the goroutine. It may be called more
// than once, and without Start.
func (p *Prober) Stop() {
	p.once.Do(func() { close(p.stop) })
	if p.started.Load() {
		<-p.done
	}
}

// Err is nil while the round trip works (or before FailAfter probes in a
// row have failed), else why it does not.
func (p *Prober) Err() error {
	if e := p.err.Load(); e != nil {
		return *e
	}
	return nil
}

// Failures counts the probes that failed since the start.
func (p *Prober) Failures() uint64 { return p.failures.Load() }

// ErrRoundTrip is wrapped by Err's error.
var ErrRoundTrip = errors.New("NATS: round trip failed")

func (p *Prober) run() {
	defer close(p.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	inRow := 0
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, p.cfg.Timeout)
		err := p.cfg.Probe(pctx)
		pcancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			inRow = 0
			if p.err.Swap(nil) != nil && p.cfg.OnChange != nil {
				p.cfg.OnChange(nil)
			}
			continue
		}
		p.failures.Add(1)
		inRow++
		if inRow >= p.cfg.FailAfter {
			e := fmt.Errorf("%w (%d probes in a row: %v)", ErrRoundTrip, inRow, err)
			if p.err.Swap(&e) == nil && p.cfg.OnChange != nil {
				p.cfg.OnChange(e)
			}
		}
	}
}
