package engineio

import (
	"errors"
	"net/http"
)

// ErrTooManyRequests, wrapped in an error Config.AllowRequest returns,
// answers the handshake 429 Too Many Requests with Retry-After: 1 and
// {"code":4,"message":"Too many requests"}: the code of a refused request
// (as the Node.js server's allowRequest), the status of a rate limit, so
// that a client or balancer can tell it from a denial. The official
// clients treat it as any failed handshake: connect_error, then a retry
// after their reconnection delay.
var ErrTooManyRequests = errors.New("engineio: too many requests")

var errTooManyRequests = &protocolError{http.StatusTooManyRequests, 4, "Too many requests"}

// writeRefusal answers a handshake AllowRequest refused with err.
func writeRefusal(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrTooManyRequests) {
		w.Header().Set("Retry-After", "1")
		writeError(w, errTooManyRequests)
		return
	}
	writeError(w, errForbidden)
}
