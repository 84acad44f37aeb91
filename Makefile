# Burrow — build, run and test. `make run` and `make test` are all a user needs;
# `make install` puts it on PATH, `make release` builds the archives of a release.
GO       ?= go
BIN      ?= bin
BINDIR   := $(abspath $(BIN))
DIST     ?= dist
DISTDIR  := $(abspath $(DIST))
PREFIX   ?= /usr/local
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
VERSION  := $(VERSION)
# COMMIT is the full hash of HEAD, with -dirty when tracked files differ from it.
COMMIT   ?= $(shell c=$$(git rev-parse HEAD 2>/dev/null) && { git diff --quiet HEAD 2>/dev/null || c=$$c-dirty; echo $$c; })
COMMIT   := $(COMMIT)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Every binary is static (no cgo), stripped and built without local paths.
GOBUILD  = CGO_ENABLED=0 $(GO) build -trimpath -ldflags
RUN_URL  ?= master://127.0.0.1:9090/api?log=info&bridge=127.0.0.1:8024&data=./data
BENCHTIME ?= 1x
# PLATFORMS are the OS/ARCH pairs of `make release`; linux/arm is ARMv7 (GOARM).
PLATFORMS ?= linux/amd64 linux/arm64 linux/arm darwin/amd64 darwin/arm64
GOARM    ?= 7
SHA256   := $(shell command -v sha256sum >/dev/null 2>&1 && echo sha256sum || echo shasum -a 256)
# Archives record root as the owner of every file (GNU tar, or bsdtar on macOS and BSDs).
TARFLAGS := $(shell if tar --version 2>/dev/null | grep -q GNU; then echo --owner=0 --group=0 --numeric-owner --sort=name; \
	elif tar --version 2>/dev/null | grep -q bsdtar; then echo --uid 0 --gid 0 --numeric-owner; fi)

.PHONY: all build burrow plugins proto run install uninstall release test unit e2e bench lint cross fmt clean

all: build

## build: the burrow binary and the handler plugins ($(BIN)/plugins, with their SHA-256 manifest);
## GOOS, GOARCH and GOARM from the environment cross-build them
build: plugins burrow

## burrow: the burrow binary alone
burrow:
	$(GOBUILD) '$(LDFLAGS)' -o $(BINDIR)/burrow ./cmd/burrow

## plugins: the built-in handlers and the socks5 example as go-plugin binaries, and the manifest pinning them
plugins:
	@mkdir -p $(BINDIR)/plugins && chmod 0755 $(BINDIR)/plugins
	$(GOBUILD) '-s -w' -o $(BINDIR)/plugins/burrow-tcp ./plugins/tcp/cmd/burrow-tcp
	$(GOBUILD) '-s -w' -o $(BINDIR)/plugins/burrow-udp ./plugins/udp/cmd/burrow-udp
	$(GOBUILD) '-s -w' -o $(BINDIR)/plugins/burrow-http ./plugins/http/cmd/burrow-http
	cd plugins/examples/socks5 && $(GOBUILD) '-s -w' -o $(BINDIR)/plugins/burrow-socks5 ./cmd/burrow-socks5
	cd $(BINDIR)/plugins && $(SHA256) burrow-* > plugins.sha256

## proto: regenerate the plugin protocol's Go code (needs protoc, protoc-gen-go, protoc-gen-go-grpc)
proto:
	./plugins/sdk/gen.sh

## run: start the master with the embedded default (data in ./data, API on 127.0.0.1:9090)
run: build
	$(BINDIR)/burrow "$(RUN_URL)"

## install: burrow to $(DESTDIR)$(PREFIX)/bin, the plugins and their manifest to
## $(DESTDIR)$(PREFIX)/lib/burrow/plugins (where the installed binary looks for them)
install: build
	install -d -m 0755 $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/burrow/plugins
	install -m 0755 $(BINDIR)/burrow $(DESTDIR)$(PREFIX)/bin/burrow
	install -m 0755 $(BINDIR)/plugins/burrow-* $(DESTDIR)$(PREFIX)/lib/burrow/plugins/
	install -m 0644 $(BINDIR)/plugins/plugins.sha256 $(DESTDIR)$(PREFIX)/lib/burrow/plugins/

## uninstall: remove what install put in $(DESTDIR)$(PREFIX)
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/burrow
	rm -rf $(DESTDIR)$(PREFIX)/lib/burrow

## release: for each of PLATFORMS, $(DIST)/burrow-VERSION-OS-ARCH.tar.gz holding burrow, plugins/
## (with the manifest of these binaries), LICENSE, README.md, CHANGELOG.md and packaging/systemd;
## then $(DIST)/SHA256SUMS. `make release PLATFORMS=linux/arm64 VERSION=v0.1.0` builds one.
## macOS archives hold no plugins/: plugin processes need an AF_UNIX SOCK_SEQPACKET socket pair,
## which macOS lacks, so a master there runs its handlers in-process.
release:
	@mkdir -p $(DISTDIR) && rm -rf $(DISTDIR)/burrow-* $(DISTDIR)/SHA256SUMS
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%%/*}; arch=$${p#*/}; goarm=; name=$$arch; \
		if [ "$$arch" = arm ]; then goarm=$(GOARM); name=armv$(GOARM); fi; \
		pkg=burrow-$(VERSION)-$$os-$$name; \
		echo "release: $$pkg"; \
		what=build; if [ "$$os" = darwin ]; then what=burrow; fi; \
		GOOS=$$os GOARCH=$$arch GOARM=$$goarm $(MAKE) --no-print-directory $$what BIN=$(DISTDIR)/$$pkg VERSION=$(VERSION) COMMIT=$(COMMIT); \
		cp LICENSE README.md CHANGELOG.md $(DISTDIR)/$$pkg/; \
		mkdir -p $(DISTDIR)/$$pkg/packaging && cp -R packaging/systemd $(DISTDIR)/$$pkg/packaging/; \
		tar $(TARFLAGS) -C $(DISTDIR) -czf $(DISTDIR)/$$pkg.tar.gz $$pkg; \
		rm -rf $(DISTDIR)/$$pkg; \
	done
	cd $(DISTDIR) && $(SHA256) burrow-*.tar.gz > SHA256SUMS

## test: vet, the 32-bit cross-builds, then every package test and the end-to-end suite against the real binary, with -race
test: lint cross plugins
	$(GO) build -race -o $(BINDIR)/burrow-race ./cmd/burrow
	BURROW_BIN=$(BINDIR)/burrow-race BURROW_PLUGINS=$(BINDIR)/plugins $(GO) test -race -count=1 -timeout 10m ./...
	cd plugins/examples/socks5 && $(GO) test -race -count=1 ./...

## unit: package tests only (no end-to-end suite)
unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /test/e2e)

## e2e: the end-to-end suite only
e2e: build
	BURROW_BIN=$(BINDIR)/burrow BURROW_PLUGINS=$(BINDIR)/plugins $(GO) test -count=1 -v ./test/e2e/...

## bench: data-path benchmarks: direct, two relays, tunnel with handlers in-process, as plugin processes, with bridge TLS, frp when present, in one run; idle memory per connection (real processes); AES-GCM's own cost
bench: build
	BURROW_BIN=$(BINDIR)/burrow BURROW_PLUGINS=$(BINDIR)/plugins $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -count 1 ./test/bench/ ./plugins/http/
	BURROW_BENCH=1 $(GO) test -run TestBenchRatios -count 1 -v ./server/pluginhost/ | grep -E 'bench_test|^ok|FAIL'

## lint: go vet and gofmt
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## cross: build and vet for 32-bit targets (GOARCH=386 and arm: NAS boxes, routers), and run the
## packages whose arithmetic depends on the word size there (386 binaries run on an amd64 kernel);
## build for macOS, which make release ships
cross:
	GOARCH=386 $(GO) build ./... && GOARCH=386 $(GO) vet ./...
	GOARCH=arm $(GO) build ./... && GOARCH=arm $(GO) vet ./...
	GOOS=darwin GOARCH=arm64 $(GO) build ./...
	cd plugins/examples/socks5 && GOARCH=386 $(GO) build ./... && GOARCH=arm $(GO) build ./...
	@if [ "$$($(GO) env GOHOSTARCH)" = amd64 ] && [ "$$($(GO) env GOHOSTOS)" = linux ]; then \
		GOARCH=386 CGO_ENABLED=0 $(GO) test -count=1 ./internal/roundrobin/; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BINDIR) $(DISTDIR)
