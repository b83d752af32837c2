#!/usr/bin/env bash
# `make run`: control (with its embedded NATS) + one edge serving the demo
# page. It prints where things are only once all of them listen; when a port
# is taken it says which one and by whom, and stops what it started. Ctrl-C
# stops the edge first, then control, so neither sees the other vanish.
# Only the PIDs started here are signalled.
#
#   EDGE_ADDR  the edge and its demo page   (make run ADDR=...)  127.0.0.1:3000
#   GRPC_ADDR  control's gRPC API                                127.0.0.1:50051
#   NATS_ADDR  control's embedded NATS                           127.0.0.1:4222
#   BIN_DIR    use the edge and control binaries there instead of building them
set -uo pipefail
cd "$(dirname "$0")/.."

EDGE_ADDR="${EDGE_ADDR:-127.0.0.1:3000}"
GRPC_ADDR="${GRPC_ADDR:-127.0.0.1:50051}"
NATS_ADDR="${NATS_ADDR:-127.0.0.1:4222}"
START_TIMEOUT="${START_TIMEOUT:-15}" # seconds each process has to listen

say() { echo "make run: $*" >&2; }

if [ -z "${BIN_DIR:-}" ]; then
  BIN_DIR=bin
  mkdir -p "$BIN_DIR"
  say "building bin/control and bin/edge"
  go build -o "$BIN_DIR/" ./cmd/control ./cmd/edge || exit 1
fi

# Started processes, stopped in reverse order. Each runs in a session of its
# own (setsid), so a terminal's Ctrl-C reaches only this script, which then
# stops them one after the other.
pids=()
names=()
stop() {
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null
    wait "${pids[i]}" 2>/dev/null
  done
  pids=()
  names=()
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM HUP
trap stop EXIT

listening() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# holder prints the process listening on a TCP port, when ss can tell.
holder() {
  local who
  who=$(ss -Hltnp "sport = :${1##*:}" 2>/dev/null | grep -o 'users:((.*))' | head -n1 | sed -E 's/users:\(\("([^"]*)",pid=([0-9]+).*/\1, pid \2/')
  [ -n "$who" ] && echo " by $who"
}

# free checks, before anything starts, that nobody listens on an address.
free() { # what variable address
  if listening "$3"; then
    say "$1 cannot listen on $3: the port is already in use$(holder "$3"); stop that process or set $2"
    exit 1
  fi
}
free "control's gRPC API" GRPC_ADDR "$GRPC_ADDR"
free "control's embedded NATS" NATS_ADDR "$NATS_ADDR"
free "the edge" "ADDR (make run ADDR=host:port)" "$EDGE_ADDR"

start() { # name command...
  local name=$1
  shift
  if command -v setsid >/dev/null; then
    setsid "$@" &
  else
    "$@" &
  fi
  pids+=($!)
  names+=("$name")
}

# up waits until the last started process listens on every address given,
# or fails the run if it exits first or takes too long.
up() {
  local pid=${pids[-1]} name=${names[-1]} deadline=$((SECONDS + START_TIMEOUT)) addr ok
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      say "$name exited (status $?) before it listened; stopping what was started"
      exit 1
    fi
    ok=1
    for addr in "$@"; do listening "$addr" || ok=0; done
    [ $ok = 1 ] && return 0
    if ((SECONDS >= deadline)); then
      say "$name does not listen on $* after ${START_TIMEOUT}s; stopping what was started"
      exit 1
    fi
    sleep 0.1
  done
}

start control "$BIN_DIR/control" --grpc-addr "$GRPC_ADDR" --embedded-nats-addr "$NATS_ADDR"
up "$GRPC_ADDR" "$NATS_ADDR"
start edge "$BIN_DIR/edge" --addr "$EDGE_ADDR" --nats-url "nats://$NATS_ADDR" --demo
up "$EDGE_ADDR"

cat <<MSG

  Demo page:   http://$EDGE_ADDR/
  Control API: $GRPC_ADDR (gRPC, reflection on). Try:
    go tool grpcurl -plaintext -d '{"event":"chat","args":["hi",{"n":1}]}' $GRPC_ADDR switchboard.v1.Control/Emit
  Ctrl-C stops both.

MSG

# Run until Ctrl-C, or until one of them exits by itself: then stop the other.
wait -n "${pids[@]}"
rc=$?
for i in "${!pids[@]}"; do
  if ! kill -0 "${pids[i]}" 2>/dev/null; then
    say "${names[i]} exited (status $rc); stopping the rest"
  fi
done
exit $((rc == 0 ? 1 : rc))
