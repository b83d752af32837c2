package faults

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// emission is one Emit the emitter made: its seq (the event's argument),
// when the call started and ended, and its error.
type emission struct {
	seq        int
	start, end time.Time
	err        error
}

// emitter has control emit (event, seq) to a target every period, seq
// counting from 0, one call at a time, until stopped: a steady fan-out
// whose every event a receiver can name.
type emitter struct {
	mu    sync.Mutex
	log   []emission // guarded by mu; index: seq
	stopF func()
}

// emitTimeout bounds one Emit: control answers Unavailable at once while
// its NATS is away, so only a hung call takes that long.
const emitTimeout = 2 * time.Second

func startEmitter(t *testing.T, api sbv1.ControlClient, target *sbv1.Target, event string, period time.Duration) *emitter {
	e := &emitter{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for seq := 0; ; seq++ {
			cctx, ccancel := context.WithTimeout(ctx, emitTimeout)
			start := time.Now()
			_, err := api.Emit(cctx, &sbv1.EmitRequest{
				Target: target,
				Event:  event,
				Args:   []*structpb.Value{structpb.NewNumberValue(float64(seq))},
			})
			ccancel()
			if ctx.Err() != nil {
				return // stopped: this call does not count
			}
			e.mu.Lock()
			e.log = append(e.log, emission{seq: seq, start: start, end: time.Now(), err: err})
			e.mu.Unlock()
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	var once sync.Once
	e.stopF = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(e.stopF)
	return e
}

// stop stops the emitter and waits for its goroutine.
func (e *emitter) stop() { e.stopF() }

// emissions returns what the emitter did so far.
func (e *emitter) emissions() []emission {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

// next is the seq of the next emit.
func (e *emitter) next() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.log)
}
