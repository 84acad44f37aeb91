# Burrow — build, run and test. `make run` and `make test` are all a user needs.
GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
RUN_URL  ?= master://127.0.0.1:9090/api?log=info&bridge=127.0.0.1:8024&data=./data
BENCHTIME ?= 1x

.PHONY: all build plugins proto run test unit e2e bench lint cross fmt clean

all: build

## build: the burrow binary and the handler plugins (bin/plugins, with their SHA-256 manifest)
build: plugins
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/burrow ./cmd/burrow

## plugins: the built-in handlers and the socks5 example as go-plugin binaries, and the manifest pinning them
plugins:
	@mkdir -p $(BIN)/plugins && chmod 0755 $(BIN)/plugins
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/plugins/burrow-tcp ./plugins/tcp/cmd/burrow-tcp
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/plugins/burrow-udp ./plugins/udp/cmd/burrow-udp
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/plugins/burrow-http ./plugins/http/cmd/burrow-http
	cd plugins/examples/socks5 && CGO_ENABLED=0 $(GO) build -trimpath -o $(CURDIR)/$(BIN)/plugins/burrow-socks5 ./cmd/burrow-socks5
	cd $(BIN)/plugins && sha256sum burrow-* > plugins.sha256

## proto: regenerate the plugin protocol's Go code (needs protoc, protoc-gen-go, protoc-gen-go-grpc)
proto:
	./plugins/sdk/gen.sh

## run: start the master with the embedded default (data in ./data, API on 127.0.0.1:9090)
run: build
	./$(BIN)/burrow "$(RUN_URL)"

## test: vet, the 32-bit cross-builds, then every package test and the end-to-end suite against the real binary, with -race
test: lint cross plugins
	$(GO) build -race -o $(BIN)/burrow-race ./cmd/burrow
	BURROW_BIN=$(CURDIR)/$(BIN)/burrow-race BURROW_PLUGINS=$(CURDIR)/$(BIN)/plugins $(GO) test -race -count=1 -timeout 10m ./...
	cd plugins/examples/socks5 && $(GO) test -race -count=1 ./...

## unit: package tests only (no end-to-end suite)
unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /test/e2e)

## e2e: the end-to-end suite only
e2e: build
	BURROW_BIN=$(CURDIR)/$(BIN)/burrow BURROW_PLUGINS=$(CURDIR)/$(BIN)/plugins $(GO) test -count=1 -v ./test/e2e/...

## bench: data-path benchmarks: direct, two relays, tunnel with handlers in-process, as plugin processes, with bridge TLS, frp when present, in one run; idle memory per connection (real processes); AES-GCM's own cost
bench: build
	BURROW_BIN=$(CURDIR)/$(BIN)/burrow BURROW_PLUGINS=$(CURDIR)/$(BIN)/plugins $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -count 1 ./test/bench/ ./plugins/http/
	BURROW_BENCH=1 $(GO) test -run TestBenchRatios -count 1 -v ./server/pluginhost/ | grep -E 'bench_test|^ok|FAIL'

## lint: go vet and gofmt
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## cross: build and vet for 32-bit targets (GOARCH=386 and arm: NAS boxes, routers), and run the
## packages whose arithmetic depends on the word size there (386 binaries run on an amd64 kernel)
cross:
	GOARCH=386 $(GO) build ./... && GOARCH=386 $(GO) vet ./...
	GOARCH=arm $(GO) build ./... && GOARCH=arm $(GO) vet ./...
	cd plugins/examples/socks5 && GOARCH=386 $(GO) build ./... && GOARCH=arm $(GO) build ./...
	@if [ "$$($(GO) env GOHOSTARCH)" = amd64 ] && [ "$$($(GO) env GOHOSTOS)" = linux ]; then \
		GOARCH=386 CGO_ENABLED=0 $(GO) test -count=1 ./internal/roundrobin/; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
