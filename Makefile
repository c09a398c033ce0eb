# barge — see README.md. Two commands matter on a fresh machine: `make run` and `make test`.
GO        ?= go
BIN       := bin/barge
PKGS      := ./...
FUZZTIME  ?= 15s

.PHONY: all build run test vet fuzz bench bench-micro bench-suite bench-quick bench-pinned bench-r3 bench-tls bench-auth bench-batch bench-mirror profile cluster faults clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/barge

# Extra barge flags go in ARGS, e.g. make run ARGS='--port 4333 -D'.
run: build
	./$(BIN) -js -sd ./data $(ARGS)

vet:
	$(GO) vet $(PKGS)

# The whole suite: vet, then every package's tests with the race detector.
test: vet
	$(GO) test -race -count=1 -timeout 12m $(PKGS)

# Short fuzz runs: the wire parser, CONNECT and login, chunk assembly and log
# recovery (whose first interesting inputs are large, hence the short
# minimisation budget).
fuzz:
	$(GO) test ./broker -run '^$$' -fuzz '^FuzzConnect$$' -fuzztime $(FUZZTIME)
	$(GO) test ./codec -run '^$$' -fuzz '^FuzzParserPieces$$' -fuzztime $(FUZZTIME)
	$(GO) test ./chunking -run '^$$' -fuzz '^FuzzAssembler$$' -fuzztime $(FUZZTIME)
	$(GO) test ./log -run '^$$' -fuzz '^FuzzRecover$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s

# Micro-benchmarks beside the code (parser, sublist, netpoll, log append/load with its
# raw write+fsync ratio, consumer delivery), then the side-by-side suite.
bench: bench-micro bench-suite

bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# natscli v0.5.0 (`nats bench`, the nb-* workloads) from its own module dir benchmarks/natscli, at
# natscli's own dependency versions; if it does not build, the nb-* points are skipped.
NATSCLI = (cd benchmarks/natscli && $(GO) build -o ../bin/nats github.com/nats-io/natscli/nats) || echo "bench: natscli does not build: the nb-* workloads are skipped"

# Side-by-side suite, barge vs nats-server 2.15.2 and the ceiling, an in-memory yardstick
# (benchmarks/README.md); the full run is long.
# Extra runner flags go in BENCHFLAGS, e.g. BENCHFLAGS='-workloads core -sizes 16B,16KiB,1MiB'.
bench-suite:
	@$(GO) build -o $(BIN) ./cmd/barge || { rm -f $(BIN); echo "bench: cmd/barge does not build: barge is skipped"; }
	@$(NATSCLI)
	cd benchmarks && $(GO) build -o bin/ ./cmd/... && ./bin/bargebench -readme ../README.md $(BENCHFLAGS)

# The same suite, small: a few minutes; report in benchmarks/results/quick/
bench-quick:
	@$(GO) build -o $(BIN) ./cmd/barge || { rm -f $(BIN); echo "bench-quick: cmd/barge does not build: barge is skipped"; }
	@$(NATSCLI)
	cd benchmarks && $(GO) build -o bin/ ./cmd/... && ./bin/bargebench -quick $(BENCHFLAGS)

# The quick suite pinned (taskset): every server process on CPU 0, bargebench on CPU 1
# (needs 2 CPUs); report <date>-<rev>-pinned.md and latest-pinned.md in benchmarks/results/quick/.
bench-pinned:
	@$(GO) build -o $(BIN) ./cmd/barge || { rm -f $(BIN); echo "bench-pinned: cmd/barge does not build: barge is skipped"; }
	cd benchmarks && $(GO) build -o bin/ ./cmd/... && ./bin/bargebench -quick -pin $(BENCHFLAGS)

# R3 publish and fetch at 1KiB, 1MiB, 8MiB: three nats-server processes vs three barge
# processes, side by side (a few minutes); the report does not replace results/latest.md.
bench-r3:
	@$(GO) build -o $(BIN) ./cmd/barge || { rm -f $(BIN); echo "bench-r3: cmd/barge does not build: barge is skipped"; }
	cd benchmarks && $(GO) build -o bin/ ./cmd/... && ./bin/bargebench -workloads r3-pub,r3-fetch -latest=false $(BENCHFLAGS)

# TLS rows: JetStream publish and fetch at 1KiB, 1MiB, 8MiB and a 256MiB Object Store put/get,
# each plaintext and over TLS (tls-*: both servers with the same generated certificate), side by
# side in one report; the report does not replace results/latest.md.
bench-tls:
	@$(GO) build -o $(BIN) ./cmd/barge || { rm -f $(BIN); echo "bench-tls: cmd/barge does not build: barge is skipped"; }
	cd benchmarks && $(GO) build -o bin/ ./cmd/... && ./bin/bargebench -workloads js-pub,js-fetch,obj-put,obj-get -tls \
		-sizes 1KiB,1MiB,8MiB -obj-sizes 256MiB -latest=false $(BENCHFLAGS)

# Auth rows: core pub/sub at 16B and 1KiB and JetStream publish at 1MiB, each without and with
# authentication (auth-*: both servers started from one config file with users and permissions),
# side by side in one report (auth ÷ no auth per server, barge ÷ nats-server); latest.md stays.
bench-auth:
	@$(GO) build -o $(BIN) ./cmd/barge || { rm -f $(BIN); echo "bench-auth: cmd/barge does not build: barge is skipped"; }
	cd benchmarks && $(GO) build -o bin/ ./cmd/... && ./bin/bargebench -workloads core,auth-core,js-pub,auth-js-pub \
		-sizes 16B,1KiB -js-sizes 1MiB -latest=false $(BENCHFLAGS)

# Fast-batch rows: JetStream publish one message at a time (js-pub, r3-pub) beside the ADR-50 fast
# batch publisher (js-fastpub, r3-fastpub: what `nats bench js pub fast` runs) at 1KiB and 1MiB,
# R1 and R3, side by side with nats-server; latest.md stays.
bench-batch:
	@$(GO) build -o $(BIN) ./cmd/barge || { rm -f $(BIN); echo "bench-batch: cmd/barge does not build: barge is skipped"; }
	cd benchmarks && $(GO) build -o bin/ ./cmd/... && ./bin/bargebench -workloads js-pub,js-fastpub,r3-pub,r3-fastpub \
		-sizes 1KiB,1MiB -r3-sizes 1KiB,1MiB -latest=false $(BENCHFLAGS)

# Mirror rows: a new mirror catching up with a filled stream (mirror) and a mirror copying while
# the origin is published to at full speed (mirror-live: copy rate, lag, catch-up), 1MiB
# messages, side by side with nats-server; latest.md stays.
bench-mirror:
	@$(GO) build -o $(BIN) ./cmd/barge || { rm -f $(BIN); echo "bench-mirror: cmd/barge does not build: barge is skipped"; }
	cd benchmarks && $(GO) build -o bin/ ./cmd/... && ./bin/bargebench -workloads mirror,mirror-live \
		-sizes 1MiB -bytes 512MiB -latest=false $(BENCHFLAGS)

# pprof captures (CPU, allocs, heap, block, mutex) of nats-server and barge, each started with
# --profile_rate 100, under each standard single-server workload (core, js-pub, js-fetch, latency,
# obj-put, obj-get) at 1 KiB and 1 MiB, 15 s windows, into profiles/ (about 8 minutes). PROFILEFLAGS
# narrows it, e.g. PROFILEFLAGS='-profile-server barge -profile-workload core -profile-sizes 1KiB'.
profile:
	$(GO) build -o $(BIN) ./cmd/barge
	cd benchmarks && $(GO) build -o bin/ ./cmd/... && ./bin/bargebench -profile $(PROFILEFLAGS)

# Three local cluster members (clients 4222-4224, routes 6222-6224, monitoring 8222-8224,
# data ./data/n1..n3); prints the client URLs; Ctrl-C stops them.
cluster: build
	./scripts/cluster.sh

# The fault run's long form: three barge processes behind fault-injecting
# proxies, an R3 stream, acked 1 KiB and 1 MiB publishes while the stream
# leader is killed -9 and restarted, paused, cut off from the others and
# healed, a follower cut off and healed, and the live consumer's node
# restarted; reports acked messages lost on the stream and on each replica
# (must be 0), duplicates, gaps, each fault's unavailability and catch-up
# time. The short form is TestFaultsShort in `make test`. FAULTS_DURATION
# sets the publishing time, FAULTS the faults (cmd/barge-faults -h).
FAULTS_DURATION ?= 60s
FAULTS ?= kill,stop,cut-leader,cut-follower,restart
faults: build
	$(GO) run ./cmd/barge-faults -bin $(BIN) -duration $(FAULTS_DURATION) -faults $(FAULTS)

clean:
	rm -rf bin data
