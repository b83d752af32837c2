// Package adminview is control's admin page: a read-only page served on
// the admin listener (internal/admin, through Config.Routes) and the JSON
// overview it polls, gathered in-process from control's own methods:
// ClusterInfo (the edges' heartbeats and counters, no bus traffic),
// ListSockets in its count-only form (a number per edge, no socket
// listed), and ListRooms a page at a time up to a fixed number of pages.
// A gather costs the same whatever the number of sockets, and one gather
// serves every open page for CacheFor. It changes nothing: every route is
// a GET. It does not own the listener, authentication (the admin listener
// has none) or any history.
package adminview

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// Cluster is what the view reads: *control.Server's methods, called
// in-process.
type Cluster interface {
	ClusterInfo(context.Context, *sbv1.ClusterInfoRequest) (*sbv1.ClusterInfoResponse, error)
	ListSockets(context.Context, *sbv1.ListSocketsRequest) (*sbv1.ListSocketsResponse, error)
	ListRooms(context.Context, *sbv1.ListRoomsRequest) (*sbv1.ListRoomsResponse, error)
}

// Bounds of Config's values: a larger value is cut to these.
const (
	MaxNamespaces  = 16
	MaxTopRooms    = 100
	MaxRoomPages   = 100
	maxPageSize    = 1000 // ListRooms's own maximum
	maxRemembered  = 256  // edges remembered after their heartbeats stopped
	defaultPages   = 10
	defaultTop     = 20
	defaultCache   = 2 * time.Second
	defaultTimeout = 5 * time.Second
	defaultCall    = 1500 * time.Millisecond
	defaultForget  = 10 * time.Minute
)

// Config is what a View reads and how much. Zero values take the defaults
// given.
type Config struct {
	// Cluster answers the view's calls. Required.
	Cluster Cluster
	// Namespaces are counted one by one and their rooms listed; sockets of
	// other namespaces show as one sum. Nil: "/" only. At most
	// MaxNamespaces; names past that are left out.
	Namespaces []string
	// TopRooms is how many of the largest rooms are shown. 0: 20; at most
	// MaxTopRooms.
	TopRooms int
	// RoomPageSize is the page size of ListRooms. 0: 1,000 (its maximum).
	RoomPageSize int
	// MaxRoomPages bounds the ListRooms pages of one gather, over all
	// namespaces: past it the rooms are "partial" (the largest of those
	// read). 0: 10 (10,000 rooms at the default page size); at most
	// MaxRoomPages.
	MaxRoomPages int
	// CacheFor is how long an overview is served again before the next
	// gather. 0: 2 s.
	CacheFor time.Duration
	// Timeout bounds one gather. 0: 5 s.
	Timeout time.Duration
	// CallTimeout bounds each call of a gather (within Timeout). 0: 1.5 s.
	CallTimeout time.Duration
	// ForgetAfter is how long an edge whose heartbeats stopped is still
	// listed, as missing. 0: 10 minutes. At most 256 are remembered.
	ForgetAfter time.Duration
	// Logger receives logs. Nil means slog.Default().
	Logger *slog.Logger
}

// View serves the page and the overview. Its methods are safe for
// concurrent use.
type View struct {
	cfg     Config
	log     *slog.Logger
	gathers atomic.Uint64

	mu   sync.Mutex        // held for a whole gather: requests meanwhile wait for its answer
	last []byte            // guarded by mu: the latest overview, JSON
	at   time.Time         // guarded by mu: when it was gathered
	seen map[string]memory // guarded by mu: edges seen, by id
}

// memory is an edge as last seen live.
type memory struct {
	edge Edge
	at   time.Time // its last heartbeat, as control received it
}

// New returns a View of cfg.Cluster.
func New(cfg Config) *View {
	if cfg.Namespaces == nil {
		cfg.Namespaces = []string{"/"}
	}
	var names []string
	for _, ns := range cfg.Namespaces {
		if !slices.Contains(names, ns) && len(names) < MaxNamespaces {
			names = append(names, ns)
		}
	}
	cfg.Namespaces = names
	cfg.TopRooms = clamp(cfg.TopRooms, defaultTop, MaxTopRooms)
	cfg.RoomPageSize = clamp(cfg.RoomPageSize, maxPageSize, maxPageSize)
	cfg.MaxRoomPages = clamp(cfg.MaxRoomPages, defaultPages, MaxRoomPages)
	cfg.CacheFor = or(cfg.CacheFor, defaultCache)
	cfg.Timeout = or(cfg.Timeout, defaultTimeout)
	cfg.CallTimeout = or(cfg.CallTimeout, defaultCall)
	cfg.ForgetAfter = or(cfg.ForgetAfter, defaultForget)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &View{cfg: cfg, log: log, seen: map[string]memory{}}
}

func clamp(n, def, hi int) int {
	if n <= 0 {
		return def
	}
	return min(n, hi)
}

func or(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Overview is what the page shows, as of GeneratedAt.
type Overview struct {
	GeneratedAt    time.Time `json:"generated_at"`
	ControlVersion string    `json:"control_version"`
	// Edges are the live edges, then those whose heartbeats stopped
	// (Missing), each sorted by id.
	Edges []Edge `json:"edges"`
	// Connections and Sockets are summed over the live edges' latest
	// heartbeats.
	Connections uint64 `json:"connections"`
	Sockets     uint64 `json:"sockets"`
	// Namespaces are the configured namespaces' socket counts, largest
	// first; OtherSockets those of every other namespace together.
	Namespaces   []Count `json:"namespaces"`
	OtherSockets uint64  `json:"other_sockets"`
	Rooms        Rooms   `json:"rooms"`
	// ControlCounters are control's; EdgeCounters each edge counter summed
	// over the live edges (each edge's own are in Edges). Denials names
	// the counters that count refusals; the others count drops and cuts.
	ControlCounters map[string]uint64 `json:"control_counters"`
	EdgeCounters    map[string]uint64 `json:"edge_counters"`
	Denials         []string          `json:"denials"`
	// MissingEdges did not answer a call of this gather in full.
	MissingEdges []string `json:"missing_edges"`
	// Errors are the calls of this gather that failed, and why.
	Errors []string `json:"errors"`
	// Limits say what the view reads at most.
	Limits Limits `json:"limits"`
	// NotYet is what the page does not show yet.
	NotYet []string `json:"not_yet"`
}

// Edge is one edge.
type Edge struct {
	ID            string            `json:"id"`
	Address       string            `json:"address"`
	Version       string            `json:"version"`
	StartedAt     time.Time         `json:"started_at"`
	LastHeartbeat time.Time         `json:"last_heartbeat"`
	HeartbeatAgeS float64           `json:"heartbeat_age_s"` // by control's clock
	Connections   uint32            `json:"connections"`
	Sockets       uint32            `json:"sockets"`
	Counters      map[string]uint64 `json:"counters"`
	// Missing: control no longer receives its heartbeats (it stopped, was
	// killed or is cut off); the figures are its last.
	Missing bool `json:"missing"`
}

// Count is a namespace's sockets.
type Count struct {
	Namespace string `json:"namespace"`
	Sockets   uint32 `json:"sockets"`
}

// Rooms are the largest rooms of the rooms read.
type Rooms struct {
	Top []Room `json:"top"`
	// Read is how many rooms the pages read held, in Pages pages.
	Read  int `json:"read"`
	Pages int `json:"pages"`
	// Partial: MaxRoomPages ran out (or a call failed) before the last
	// page; Top is the largest of the rooms read, in name order.
	Partial bool `json:"partial"`
}

// Room is a room's size, summed over the edges that answered.
type Room struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Sockets   uint32 `json:"sockets"`
}

// Limits are the view's bounds, shown on the page.
type Limits struct {
	TopRooms     int     `json:"top_rooms"`
	RoomPageSize int     `json:"room_page_size"`
	MaxRoomPages int     `json:"max_room_pages"`
	CacheForS    float64 `json:"cache_for_s"`
}

// denials are the edge counters that count refusals of what a client
// asked.
var denials = []string{
	"refused_max_connections", "refused_per_ip", "namespaces_refused", "room_joins_refused",
	"acks_refused", "connects_refused", "auth_failures",
}

var notYet = []string{
	"namespaces by name beyond those the view is configured with (edges do not report their namespaces' names; the others are one sum)",
	"denials by a finer reason than the edges' counters",
	"refused handshakes (rate, origin) and dropped client events (rate, event name length): counted on each edge's /metrics, not in its heartbeat's counters, so not here",
	"history and rates (counters are totals since each process started; use /metrics)",
}

// Gathers is how many gathers the view made (each open page's poll within
// CacheFor of one reuses it).
func (v *View) Gathers() uint64 { return v.gathers.Load() }

// OverviewJSON returns the overview as JSON: the cached one while fresh,
// else a new gather. Concurrent callers share one gather.
func (v *View) OverviewJSON() []byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	if v.last != nil && now.Sub(v.at) < v.cfg.CacheFor {
		return v.last
	}
	// Not the request's context: a viewer that leaves does not cut the
	// gather the next one is served.
	ctx, cancel := context.WithTimeout(context.Background(), v.cfg.Timeout)
	defer cancel()
	o := v.gatherLocked(ctx, now)
	b, err := json.Marshal(o)
	if err != nil { // not expected: plain types
		v.log.Warn("admin view: overview does not encode", "err", err)
		b = []byte(`{"errors":["overview does not encode"]}`)
	}
	v.last, v.at = b, time.Now()
	v.gathers.Add(1)
	return b
}

// Overview returns the overview (decoded from OverviewJSON).
func (v *View) Overview() (*Overview, error) {
	o := new(Overview)
	return o, json.Unmarshal(v.OverviewJSON(), o)
}

func (v *View) gatherLocked(ctx context.Context, now time.Time) *Overview {
	o := &Overview{
		GeneratedAt: now.UTC(), Denials: denials, NotYet: notYet,
		EdgeCounters: map[string]uint64{}, Namespaces: []Count{}, Rooms: Rooms{Top: []Room{}},
		Edges: []Edge{}, MissingEdges: []string{}, Errors: []string{},
		Limits: Limits{TopRooms: v.cfg.TopRooms, RoomPageSize: v.cfg.RoomPageSize, MaxRoomPages: v.cfg.MaxRoomPages, CacheForS: v.cfg.CacheFor.Seconds()},
	}
	var mu sync.Mutex // guards o's lists while the calls below run
	missing := map[string]bool{}
	fail := func(what string, err error) {
		mu.Lock()
		defer mu.Unlock()
		o.Errors = append(o.Errors, what+": "+err.Error())
	}
	miss := func(ids []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			missing[id] = true
		}
	}
	ci, err := v.cfg.Cluster.ClusterInfo(ctx, &sbv1.ClusterInfoRequest{})
	if err != nil {
		fail("ClusterInfo", err)
	} else {
		o.ControlVersion = ci.GetControlVersion()
		o.ControlCounters = counters(ci.GetControlCounters())
		v.edgesLocked(o, ci.GetEdges(), now)
	}

	var wg sync.WaitGroup
	pages := atomic.Int64{}
	pages.Store(int64(v.cfg.MaxRoomPages))
	var all uint32
	wg.Go(func() {
		n, m, err := v.count(ctx, "")
		if err != nil {
			fail("ListSockets (every namespace, count only)", err)
			return
		}
		miss(m)
		all = n
	})
	counts := make([]Count, len(v.cfg.Namespaces))
	rooms := make([][]Room, len(v.cfg.Namespaces))
	read, used := make([]int, len(v.cfg.Namespaces)), make([]int, len(v.cfg.Namespaces))
	partial := atomic.Bool{}
	for i, ns := range v.cfg.Namespaces {
		wg.Go(func() {
			n, m, err := v.count(ctx, ns)
			if err != nil {
				fail("ListSockets "+ns+" (count only)", err)
			}
			miss(m)
			counts[i] = Count{Namespace: ns, Sockets: n}
		})
		wg.Go(func() {
			var m []string
			var err error
			rooms[i], read[i], used[i], m, err = v.rooms(ctx, ns, &pages, &partial)
			if err != nil {
				fail("ListRooms "+ns, err)
				partial.Store(true)
			}
			miss(m)
		})
	}
	wg.Wait()

	var sum uint64
	for _, c := range counts {
		sum += uint64(c.Sockets)
	}
	o.Namespaces = counts
	slices.SortStableFunc(o.Namespaces, func(a, b Count) int { return cmp.Compare(b.Sockets, a.Sockets) })
	if uint64(all) > sum {
		o.OtherSockets = uint64(all) - sum
	}
	for i := range rooms {
		o.Rooms.Top = append(o.Rooms.Top, rooms[i]...)
		o.Rooms.Read += read[i]
		o.Rooms.Pages += used[i]
	}
	o.Rooms.Top = top(o.Rooms.Top, v.cfg.TopRooms)
	o.Rooms.Partial = partial.Load()
	for id := range missing {
		o.MissingEdges = append(o.MissingEdges, id)
	}
	slices.Sort(o.MissingEdges)
	slices.Sort(o.Errors)
	return o
}

// edgesLocked fills o's edges from the live ones and those remembered.
func (v *View) edgesLocked(o *Overview, live []*sbv1.Edge, now time.Time) {
	ids := map[string]bool{}
	for _, e := range live {
		hb := e.GetLastHeartbeat().AsTime()
		ed := Edge{
			ID: e.GetId(), Address: e.GetAddress(), Version: e.GetVersion(),
			StartedAt: e.GetStartedAt().AsTime().UTC(), LastHeartbeat: hb.UTC(),
			HeartbeatAgeS: max(now.Sub(hb).Seconds(), 0),
			Connections:   e.GetConnections(), Sockets: e.GetSockets(), Counters: counters(e.GetCounters()),
		}
		o.Edges = append(o.Edges, ed)
		o.Connections += uint64(ed.Connections)
		o.Sockets += uint64(ed.Sockets)
		for k, n := range ed.Counters {
			o.EdgeCounters[k] += n
		}
		ids[ed.ID] = true
		v.seen[ed.ID] = memory{edge: ed, at: hb}
	}
	var gone []Edge
	for id, m := range v.seen {
		if ids[id] {
			continue
		}
		if now.Sub(m.at) > v.cfg.ForgetAfter {
			delete(v.seen, id)
			continue
		}
		e := m.edge
		e.Missing, e.HeartbeatAgeS = true, now.Sub(m.at).Seconds()
		gone = append(gone, e)
	}
	// Past maxRemembered, forget the edges gone longest.
	slices.SortFunc(gone, func(a, b Edge) int { return b.LastHeartbeat.Compare(a.LastHeartbeat) })
	for len(v.seen) > maxRemembered && len(gone) > 0 {
		delete(v.seen, gone[len(gone)-1].ID)
		gone = gone[:len(gone)-1]
	}
	byID := func(a, b Edge) int { return cmp.Compare(a.ID, b.ID) }
	slices.SortFunc(o.Edges, byID)
	slices.SortFunc(gone, byID)
	o.Edges = append(o.Edges, gone...)
}

// call is the context of one call of a gather.
func (v *View) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, v.cfg.CallTimeout)
}

// count is ns's sockets (ns "": every namespace's) by ListSockets's count
// form, and the edges that did not answer.
func (v *View) count(ctx context.Context, ns string) (uint32, []string, error) {
	cctx, cancel := v.call(ctx)
	defer cancel()
	r, err := v.cfg.Cluster.ListSockets(cctx, &sbv1.ListSocketsRequest{Namespace: ns, CountOnly: true})
	if err != nil {
		return 0, nil, err
	}
	return r.GetTotal(), r.GetMissingEdges(), nil
}

// rooms reads ns's rooms a page at a time while pages (shared by the
// namespaces) lasts, keeping the largest; it sets partial when pages ran
// out before the last page.
func (v *View) rooms(ctx context.Context, ns string, pages *atomic.Int64, partial *atomic.Bool) (largest []Room, read, used int, missing []string, err error) {
	token := ""
	for {
		if pages.Add(-1) < 0 {
			partial.Store(true)
			return largest, read, used, missing, nil
		}
		cctx, cancel := v.call(ctx)
		r, err := v.cfg.Cluster.ListRooms(cctx, &sbv1.ListRoomsRequest{Namespace: ns, PageSize: uint32(v.cfg.RoomPageSize), PageToken: token})
		cancel()
		if err != nil {
			return largest, read, used, missing, err
		}
		used++
		read += len(r.GetRooms())
		missing = append(missing, r.GetMissingEdges()...)
		for _, room := range r.GetRooms() {
			largest = append(largest, Room{Namespace: ns, Name: room.GetName(), Sockets: room.GetSockets()})
		}
		largest = top(largest, v.cfg.TopRooms)
		if token = r.GetNextPageToken(); token == "" {
			return largest, read, used, missing, nil
		}
	}
}

// top sorts rooms largest first (then by namespace and name) and keeps n.
func top(rooms []Room, n int) []Room {
	slices.SortFunc(rooms, func(a, b Room) int {
		if c := cmp.Compare(b.Sockets, a.Sockets); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return rooms[:min(len(rooms), n)]
}

// counters are m's unsigned integer fields by name, unset ones as 0, so
// that a counter added to the protocol shows without a change here.
func counters(m proto.Message) map[string]uint64 {
	out := map[string]uint64{}
	if m == nil {
		return out
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return out
	}
	fields := r.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Kind() == protoreflect.Uint64Kind || f.Kind() == protoreflect.Uint32Kind {
			out[string(f.Name())] = r.Get(f).Uint()
		}
	}
	return out
}

//go:embed static
var static embed.FS

// Routes are the view's handlers by http.ServeMux pattern, for
// admin.Config.Routes: the page at / and /admin/, its script and style
// under /admin/static/, the overview at /admin/api/overview. They answer
// GET and HEAD; any other method is 405.
func (v *View) Routes() map[string]http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded directory exists
	}
	page := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, sub, "index.html")
	}
	files := http.StripPrefix("/admin/static/", http.FileServerFS(sub))
	return map[string]http.Handler{
		"/{$}":           readOnly(page),
		"/admin/{$}":     readOnly(page),
		"/admin/static/": readOnly(files.ServeHTTP),
		"/admin/api/overview": readOnly(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(v.OverviewJSON())
		}),
	}
}

// readOnly serves GET and HEAD with h and refuses other methods (405).
// The patterns name no method: with one, another method would fall
// through to the admin listener's "/" and answer 404.
func readOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "read-only", http.StatusMethodNotAllowed)
			return
		}
		h(w, r)
	})
}
