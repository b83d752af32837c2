package socketio_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// countEvents counts the events every namespace's handlers get, by
// namespace and name.
func countEvents(srv *socketio.Server, mu *sync.Mutex, got map[string]int) {
	srv.OnNamespace(func(n *socketio.Namespace) {
		n.OnEvent(func(s *socketio.Socket, e *socketio.Event) {
			mu.Lock()
			got[n.Name()+" "+e.Name]++
			mu.Unlock()
		})
	})
}

// The bucket is per socket: one connection's socket on "/" over its rate
// has the excess dropped and counted, its socket on "/b" loses nothing,
// the connection stays open; a name over the limit is dropped and counted.
func TestEventLimitsPerSocket(t *testing.T) {
	const burst, flood, maxName = 10, 50, 32
	var mu sync.Mutex
	got := map[string]int{}
	ts := newServer(t, socketio.Config{EventRate: 1, EventBurst: burst, MaxEventNameLen: maxName, AllowNamespace: anyNamespace},
		func(srv *socketio.Server) { countEvents(srv, &mu, got) })
	c := ts.dial(t)
	c.connect("/", "")
	c.connect("/b", "")
	for i := range flood {
		c.send(fmt.Sprintf(`42["flood",%d]`, i))
	}
	for i := range burst - 1 { // and one more below: /b's burst
		c.send(fmt.Sprintf(`42/b,["calm",%d]`, i))
	}
	c.send(`42/b,["` + strings.Repeat("n", maxName+1) + `"]`)
	c.send(`42/b,["` + strings.Repeat("n", maxName) + `"]`) // at the limit: handled
	waitFor(t, "the events handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got["/b "+strings.Repeat("n", maxName)] == 1
	})
	time.Sleep(50 * time.Millisecond) // any stray event lands
	mu.Lock()
	defer mu.Unlock()
	if n := got["/ flood"]; n < burst || n > burst+1 {
		t.Errorf("%d of %d floods handled, want the burst of %d", n, flood, burst)
	}
	if got["/b calm"] != burst-1 || len(got) != 3 {
		t.Errorf("handled %v, want %d calm on /b, no event with a long name", got, burst-1)
	}
	st := ts.Stats()
	if want := uint64(flood - got["/ flood"]); st.EventsOverRate != want || st.EventNamesTooLong != 1 {
		t.Errorf("stats %+v, want %d over the rate, 1 name too long", st, want)
	}
	c.send(`42["ping"]`) // the connection is still open, the socket joined
	c.send("41")
	c.close()
}

// Negative limits turn them off: 600 events at once (past the default
// burst of 500) with names of 300 bytes are all handled.
func TestEventLimitsOff(t *testing.T) {
	const n = 600
	var mu sync.Mutex
	got := map[string]int{}
	ts := newServer(t, socketio.Config{EventRate: -1, MaxEventNameLen: -1},
		func(srv *socketio.Server) { countEvents(srv, &mu, got) })
	c := ts.dial(t)
	c.connect("/", "")
	long := strings.Repeat("n", 300)
	for range n {
		c.send(`42["` + long + `"]`)
	}
	waitFor(t, "every event handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got["/ "+long] == n
	})
	if st := ts.Stats(); st.EventsOverRate != 0 || st.EventNamesTooLong != 0 {
		t.Errorf("stats %+v, want nothing dropped", st)
	}
	c.close()
}
