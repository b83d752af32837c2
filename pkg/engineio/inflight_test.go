package engineio_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

// TestUpgradeMessagesInFlight sends numbered messages from the server
// without a pause, before, during and after an upgrade: the client must get
// each exactly once, over either transport.
func TestUpgradeMessagesInFlight(t *testing.T) {
	tests := []struct {
		name string
		mode upgradeMode
	}{
		{"client pauses polling", pausePolling},
		{"client keeps polling", keepPolling},
		{"client sends probe and upgrade at once", eagerUpgrade},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 5 { // the interleavings vary from run to run
				upgradeInFlight(t, tt.mode)
				if t.Failed() {
					return
				}
			}
		})
	}
}

type upgradeMode int

const (
	// pausePolling: the client stops polling once the probe succeeded and
	// its last GET returned, before it sends "5", as the reference client
	// does; the messages then arrive in order across the two transports.
	pausePolling upgradeMode = iota
	// keepPolling: the client polls until the server refuses its GETs; each
	// transport keeps the order, and nothing is lost or duplicated.
	keepPolling
	// eagerUpgrade: keepPolling, and "5" follows "2probe" without waiting
	// for "3probe".
	eagerUpgrade
)

func upgradeInFlight(t *testing.T, mode upgradeMode) {
	pause := mode == pausePolling
	e := newEnv(t, engineio.Config{WriteQueueSize: 1 << 16})
	sid := e.handshake(t)
	sess := e.srv.Session(sid)

	// The sender.
	stopSending := make(chan struct{})
	sent := make(chan int, 1) // how many were sent, once stopped
	sendErr := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stopSending:
				sent <- i
				return
			default:
			}
			if err := sess.Send(engineio.NewTextMessage([]byte(strconv.Itoa(i)))); err != nil {
				sendErr <- fmt.Errorf("Send %d: %w", i, err)
				sent <- i
				return
			}
			if i%8 == 7 {
				time.Sleep(50 * time.Microsecond) // keep the flow going for a while
			}
		}
	}()
	stopSender := sync.OnceValue(func() int {
		close(stopSending)
		return <-sent
	})
	defer stopSender()

	// The poller.
	var polledCount atomic.Int64
	stopPolling := make(chan struct{})
	type pollResult struct {
		got []int
		err error
	}
	polled := make(chan pollResult, 1)
	go func() {
		var got []int
		for {
			select {
			case <-stopPolling:
				polled <- pollResult{got: got}
				return
			default:
			}
			res := e.request(context.Background(), http.MethodGet, sidQuery(sid), nil, nil)
			switch {
			case res.err != nil:
				polled <- pollResult{got, res.err}
				return
			case !pause && res.status == http.StatusBadRequest:
				polled <- pollResult{got: got} // upgraded: polling is over
				return
			case res.status != http.StatusOK:
				polled <- pollResult{got, fmt.Errorf("GET: %d %q", res.status, res.body)}
				return
			}
			for p := range strings.SplitSeq(res.body, "\x1e") {
				if p == "6" {
					continue
				}
				n, err := parseNumbered(p)
				if err != nil {
					polled <- pollResult{got, err}
					return
				}
				got = append(got, n)
			}
			polledCount.Store(int64(len(got)))
		}
	}()

	waitUntil(t, "some messages came by polling", func() bool { return polledCount.Load() >= 50 })

	c, _, err := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	if err != nil {
		t.Fatal(err)
	}
	var byPoll pollResult
	switch mode {
	case pausePolling:
		writeWS(t, c, "2probe")
		expectWS(t, c, "3probe")
		close(stopPolling)
		select {
		case byPoll = <-polled:
		case <-time.After(wait):
			t.Fatal("the poller did not stop")
		}
		writeWS(t, c, "5")
	case keepPolling:
		writeWS(t, c, "2probe")
		expectWS(t, c, "3probe")
		writeWS(t, c, "5")
	case eagerUpgrade:
		writeWS(t, c, "2probe")
		writeWS(t, c, "5")
		expectWS(t, c, "3probe")
	}
	if !pause {
		select {
		case byPoll = <-polled:
		case <-time.After(wait):
			t.Fatal("the poller did not stop")
		}
	}
	if byPoll.err != nil {
		t.Fatal(byPoll.err)
	}

	var byWS []int
	total := -1
	for total < 0 || len(byPoll.got)+len(byWS) < total {
		if total < 0 && len(byWS) >= 50 {
			total = stopSender()
			select {
			case err := <-sendErr:
				t.Fatal(err)
			default:
			}
			continue
		}
		_, data, err := readWSErr(c)
		if err != nil {
			t.Errorf("read: %v", err)
			break // report what is missing
		}
		n, err := parseNumbered(data)
		if err != nil {
			t.Fatal(err)
		}
		byWS = append(byWS, n)
	}

	if !slices.IsSorted(byPoll.got) || !slices.IsSorted(byWS) {
		t.Fatal("messages out of order on one transport")
	}
	all := append(slices.Clone(byPoll.got), byWS...)
	if !pause {
		slices.Sort(all)
	}
	for i, n := range all {
		if n != i {
			t.Fatalf("%d messages sent, %d by polling then %d by WebSocket: at %d got message %d (polling ends with %v, WebSocket starts with %v)",
				total, len(byPoll.got), len(byWS), i, n, tail(byPoll.got), head(byWS))
		}
	}
	if len(all) != total {
		t.Fatalf("got %d messages, %d sent", len(all), total)
	}
}

func parseNumbered(p string) (int, error) {
	s, ok := strings.CutPrefix(p, "4")
	if !ok {
		return 0, fmt.Errorf("unexpected packet %q", p)
	}
	return strconv.Atoi(s)
}

func head(s []int) []int { return s[:min(len(s), 5)] }
func tail(s []int) []int { return s[max(0, len(s)-5):] }
