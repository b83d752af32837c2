package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// maxSocketData bounds a socket's data as JSON, as control bounds
// SetSocketData's: a merge or an increment whose result would pass it is
// not made.
const maxSocketData = 64 << 10

// maxSafeInteger is the largest integer a JavaScript number holds exactly
// (Number.MAX_SAFE_INTEGER): counters saturate at plus or minus it.
const maxSafeInteger = 1<<53 - 1

// dataUpdate is a SOCKETS_ACTION_SET_DATA as each selected socket takes
// it: the data set or merged (unless only counters change), then the
// counters added.
type dataUpdate struct {
	set   bool           // data_json given, or no increment: value replaces or merges
	value any            // decoded data_json, shared by every socket: read-only
	obj   map[string]any // value as an object, with merge
	incr  map[string]int64
}

// setData sets, merges and increments the data of the selected sockets,
// each atomically (socketio.Socket.UpdateData): two operations never
// interleave on a socket, so concurrent increments all count. It fills
// reply's sockets (those whose data was set), data_refused (those whose
// data would pass maxSocketData, which keep theirs) and, when one socket
// was selected and set, data_json (its data as this left it).
func setData(sel *socketio.BroadcastOperator, op *busv1.SocketsOperation, reply *busv1.SocketsOperationReply) error {
	u := dataUpdate{set: len(op.DataJson) > 0 || len(op.Increment) == 0, incr: op.Increment}
	if len(op.DataJson) > 0 {
		// Numbers stay as written (json.Number): 12345678901234567890 is
		// not rounded to a float64 on its way back out.
		dec := json.NewDecoder(bytes.NewReader(op.DataJson))
		dec.UseNumber()
		if err := dec.Decode(&u.value); err != nil {
			return fmt.Errorf("data_json does not decode: %w", err)
		}
	}
	if u.set && op.Merge {
		obj, ok := u.value.(map[string]any)
		if !ok {
			return errors.New("data_json must be an object to merge")
		}
		u.obj = obj
	}
	socks := sel.Sockets()
	for _, s := range socks {
		data, ok := s.UpdateData(u.apply)
		if !ok {
			reply.DataRefused++
			continue
		}
		reply.Sockets++
		if len(socks) == 1 {
			reply.DataJson = []byte(dataJSON(data))
			if data == nil {
				reply.DataJson = []byte("null")
			}
		}
	}
	return nil
}

// apply is the socket's new data from old, and whether it fits
// maxSocketData. It runs under the socket's lock (UpdateData).
func (u *dataUpdate) apply(old any) (any, bool) {
	v := old
	grew := false // keys that control did not bound may have been added
	switch {
	case u.set && u.obj != nil:
		v = u.obj
		if prev, ok := old.(map[string]any); ok && len(prev) > 0 {
			merged := make(map[string]any, len(prev)+len(u.obj))
			maps.Copy(merged, prev)
			maps.Copy(merged, u.obj)
			v, grew = merged, len(merged) > len(u.obj)
		}
	case u.set:
		v = u.value
	}
	if len(u.incr) > 0 {
		v, grew = increment(v, u.incr), true
	}
	if grew {
		b, err := json.Marshal(v)
		if err != nil || len(b) > maxSocketData {
			return nil, false
		}
	}
	return v, true
}

// increment is data with each of incr's members added to: a new object
// (data is read-only), in which a member that was missing, null or not an
// integer counted as 0. Data that is not an object becomes an object.
func increment(data any, incr map[string]int64) map[string]any {
	old, _ := data.(map[string]any)
	out := make(map[string]any, len(old)+len(incr))
	maps.Copy(out, old)
	for k, n := range incr {
		out[k] = addSaturated(counter(old[k]), n)
	}
	return out
}

// counter is a data member as a counter: an integer (1, -3, 2.0, 1e3)
// within ±maxSafeInteger (one past it counts as the bound), else 0.
func counter(v any) int64 {
	switch x := v.(type) {
	case json.Number: // data set through control
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return clampSafe(n)
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil && !math.IsInf(f, 0) {
			return 0
		}
		return floatCounter(f)
	case float64: // data of a connect hook or a token's claim
		return floatCounter(x)
	case int64: // a counter this file set
		return clampSafe(x)
	case int:
		return clampSafe(int64(x))
	}
	return 0
}

// floatCounter is f as a counter: 0 if it is not an integer.
func floatCounter(f float64) int64 {
	switch {
	case math.IsNaN(f) || f != math.Trunc(f):
		return 0
	case f >= maxSafeInteger:
		return maxSafeInteger
	case f <= -maxSafeInteger:
		return -maxSafeInteger
	}
	return int64(f)
}

func clampSafe(n int64) int64 { return min(max(n, -maxSafeInteger), maxSafeInteger) }

// addSaturated is cur+n within ±maxSafeInteger; cur is within it, so
// neither bound minus cur overflows.
func addSaturated(cur, n int64) int64 {
	switch {
	case n > maxSafeInteger-cur:
		return maxSafeInteger
	case n < -maxSafeInteger-cur:
		return -maxSafeInteger
	}
	return cur + n
}
