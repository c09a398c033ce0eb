# barge — see README.md. Two commands matter on a fresh machine: `make run` and `make test`.
GO        ?= go
BIN       := bin/barge
PKGS      := ./...
FUZZTIME  ?= 15s

.PHONY: all build run test test-short vet fuzz bench bench-quick profile cluster clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/barge

run: build
	./$(BIN) -js -sd ./data

vet:
	$(GO) vet $(PKGS)

# The whole suite: vet, then every package's tests with the race detector.
test: vet
	$(GO) test -race -count=1 -timeout 12m $(PKGS)

# Short fuzz runs of the wire parser and of log recovery.
fuzz:
	$(GO) test ./codec -run '^$$' -fuzz '^FuzzParserPieces$$' -fuzztime $(FUZZTIME)

# Micro-benchmarks beside the code.
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin data
