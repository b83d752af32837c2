// Package stamp builds and reads the benchmark's message payload: a JSON
// object of exactly Size bytes, {"t":<sender wall clock in ms with three
// decimals>,"p":"<padding>"}, carried as the first argument of event "m".
// Every sender (the gRPC driver, the gorilla ceiling, the Node server) puts
// its clock in t, every receiver computes now - t; all run on one machine,
// so they share the wall clock.
package stamp

import (
	"bytes"
	"strconv"
	"time"
)

// Size is the payload object's length in bytes.
const Size = 100

// Event is the Socket.IO event name every benchmark message uses.
const Event = "m"

var padding = bytes.Repeat([]byte("x"), Size)

// Now returns the wall clock in microseconds since the Unix epoch.
func Now() int64 { return time.Now().UnixMicro() }

// AppendObject appends the payload object stamped with us (µs since the
// epoch) to dst.
func AppendObject(dst []byte, us int64) []byte {
	start := len(dst)
	dst = append(dst, `{"t":`...)
	dst = strconv.AppendInt(dst, us/1000, 10)
	frac := us % 1000
	dst = append(dst, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	dst = append(dst, `,"p":"`...)
	pad := Size - (len(dst) - start) - 2
	if pad < 0 {
		pad = 0
	}
	dst = append(dst, padding[:pad]...)
	return append(dst, `"}`...)
}

// AppendArgs appends the JSON array of event arguments, [object], the form
// the control API's args_json takes.
func AppendArgs(dst []byte, us int64) []byte {
	dst = append(dst, '[')
	dst = AppendObject(dst, us)
	return append(dst, ']')
}

// AppendFrame appends the Socket.IO EVENT packet text for the main
// namespace, 42["m",{...}], exactly what a Socket.IO server sends over
// WebSocket for the event; the ceiling server sends it as a plain frame.
func AppendFrame(dst []byte, us int64) []byte {
	dst = append(dst, `42["`+Event+`",`...)
	dst = AppendObject(dst, us)
	return append(dst, ']')
}

var key = []byte(`"t":`)

// Find returns the timestamp (µs since the epoch) of the first "t" key in
// b. It does not allocate.
func Find(b []byte) (int64, bool) {
	i := bytes.Index(b, key)
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	var ms int64
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		ms = ms*10 + int64(b[n]-'0')
		n++
	}
	if n == 0 {
		return 0, false
	}
	us := ms * 1000
	if n < len(b) && b[n] == '.' {
		scale := int64(100)
		for n++; n < len(b) && b[n] >= '0' && b[n] <= '9'; n++ {
			us += int64(b[n]-'0') * scale
			scale /= 10
		}
	}
	return us, true
}
