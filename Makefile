# Switchboard. `make run` and `make test` are all a newcomer needs: they
# install what they use (npm packages from package-lock.json, Debian's
# python3-socketio for the Python client test) on first use.

GO        ?= go
ADDR      ?= 127.0.0.1:3000
GRPC_ADDR ?= 127.0.0.1:50051
NATS_ADDR ?= 127.0.0.1:4222
GOFLAGS_T ?= -race -count=1
FUZZTIME  ?= 10s
# make test fuzzes for a number of executions, not a duration: Go 1.26's fuzz
# coordinator can fail a duration run with "context deadline exceeded" at the
# deadline with no failing input (golang/go#75804, fixed in Go 1.27).
TEST_FUZZTIME ?= 20000x
# The edge's fuzz targets (pkg/edge/fuzz_test.go) drive a real edge through
# loopback connections: an input costs a few connections and round trips,
# about 2 ms against the decoders' microseconds, so they have a count of
# their own: 10000x takes 10-15 s per target on two cores, where 20000x
# would add over a minute to make test.
NET_FUZZTIME ?= $(FUZZTIME)
TEST_NET_FUZZTIME ?= 10000x

.PHONY: run test test-deps test-build lint fmt vet fuzz bench help soak

## help: list the targets
help:
	@grep -h '^## ' $(MAKEFILE_LIST) | sed 's/^## /  /'

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## run: control (embedded NATS) + an edge + the demo page at http://127.0.0.1:3000/ (ADDR=, GRPC_ADDR=, NATS_ADDR= move them)
run: node_modules/.package-lock.json
	EDGE_ADDR=$(ADDR) GRPC_ADDR=$(GRPC_ADDR) NATS_ADDR=$(NATS_ADDR) bash scripts/run.sh

## test-deps: install what the tests use (idempotent, quick when present)
test-deps: node_modules/.package-lock.json
	@bash scripts/test-deps.sh

# Every binary a test runs is built here, before any test's clock starts
# (internal/repotest.Main reads the directory from SWITCHBOARD_TEST_BIN).
TEST_BIN := $(CURDIR)/bin/test
TEST_ENV := SWITCHBOARD_TEST_BIN=$(TEST_BIN)

## test-build: build the binaries and tools the tests run into bin/test
test-build: node_modules/.package-lock.json
	$(GO) build -o $(TEST_BIN)/ ./cmd/edge ./cmd/control ./bench/cmd/loadgen ./bench/cmd/ceiling tool
	$(GO) build -o $(TEST_BIN)/echo ./examples/echo/go
	$(GO) build -o $(TEST_BIN)/login ./examples/login/go
	$(GO) build -o $(TEST_BIN)/ ./examples/login/emit
	node_modules/.bin/tsc -p examples/typescript --outDir $(TEST_BIN)/typescript

## test: lint, build, every test with the race detector, the benchmark smoke run, a short fuzz run
test: test-deps lint test-build
	$(TEST_ENV) $(GO) test $(GOFLAGS_T) ./...
	$(TEST_ENV) SWITCHBOARD_BENCH_SMOKE=1 $(GO) test -count=1 ./bench -run '^TestSmoke$$'
	$(MAKE) fuzz FUZZTIME=$(TEST_FUZZTIME) NET_FUZZTIME=$(TEST_NET_FUZZTIME)

# The soak's duration, a Go duration; go test's -timeout is SOAK plus 5
# minutes, written "$(SOAK)5m" (Go adds up a duration's parts: 10m5m is 15m).
SOAK ?= 10m

## soak: SOAK (10m) of client churn, fan-out and Subscribe against two edges and control, no -race; fails on growth or drops; writes bin/soak/ (docs/soak.md)
soak: test-build
	$(TEST_ENV) SWITCHBOARD_SOAK=$(SOAK) SWITCHBOARD_SOAK_OUT=$(CURDIR)/bin/soak \
		$(GO) test -count=1 -v -run '^TestSoak$$' -timeout $(SOAK)5m ./test/soak

## fuzz: run each parser's fuzz target for FUZZTIME
fuzz:
	$(GO) test ./pkg/engineio -run '^$$' -fuzz '^FuzzDecodePayload$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/engineio -run '^$$' -fuzz '^FuzzDecodeText$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/socketio -run '^$$' -fuzz '^FuzzDecoder$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/edge -run '^$$' -fuzz '^FuzzHTTPRequest$$' -fuzztime $(NET_FUZZTIME)
	$(GO) test ./pkg/edge -run '^$$' -fuzz '^FuzzPollingBody$$' -fuzztime $(NET_FUZZTIME)
	$(GO) test ./pkg/edge -run '^$$' -fuzz '^FuzzWebSocketFrames$$' -fuzztime $(NET_FUZZTIME)

## lint: gofmt, go vet, buf lint
lint: fmt vet buf-lint

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

include mk/proto.mk

.PHONY: bench-smoke

## bench: the full benchmark: fan-out, burst, memory, connect storm, unicast against a gorilla ceiling (batched and one write per frame) and Node (127.0.0.1 only); writes bench/results/ and a row in its README.md
bench: node_modules/.package-lock.json
	$(GO) run ./bench/cmd/bench $(BENCHFLAGS)

## bench-smoke: every benchmark scenario with a few dozen sockets (under a minute)
bench-smoke: node_modules/.package-lock.json
	$(GO) run ./bench/cmd/bench --smoke $(BENCHFLAGS)
