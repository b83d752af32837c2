#!/usr/bin/env bash
# `make run`: control (with its embedded NATS) + one edge serving the demo
# page. Ctrl-C stops both. Only the PIDs started here are signalled.
set -euo pipefail
cd "$(dirname "$0")/.."

EDGE_ADDR="${EDGE_ADDR:-127.0.0.1:3000}"
GRPC_ADDR="${GRPC_ADDR:-127.0.0.1:50051}"
NATS_ADDR="${NATS_ADDR:-127.0.0.1:4222}"

mkdir -p bin
go build -o bin/control ./cmd/control
go build -o bin/edge ./cmd/edge

bin/control --grpc-addr "$GRPC_ADDR" --embedded-nats-addr "$NATS_ADDR" &
control_pid=$!
trap 'kill "$control_pid" 2>/dev/null; wait "$control_pid" 2>/dev/null || true' EXIT INT TERM

# The edge retries nothing at start: wait until control's NATS accepts.
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/${NATS_ADDR%:*}/${NATS_ADDR##*:}") 2>/dev/null; then break; fi
  sleep 0.1
done

cat <<MSG

  Demo page:   http://$EDGE_ADDR/
  Control API: $GRPC_ADDR (gRPC, reflection on). Try:
    go tool grpcurl -plaintext -d '{"event":"chat","args":["hi",{"n":1}]}' $GRPC_ADDR switchboard.v1.Control/Emit

MSG
bin/edge --addr "$EDGE_ADDR" --nats-url "nats://$NATS_ADDR" --demo
