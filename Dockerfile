# syntax=docker/dockerfile:1
#
# Burrow's master in a small image: static binaries (no cgo), the handler
# plugins with their manifest, a non-root user, the data directory as a
# volume. The default command serves the admin API on :9090 and the shared
# bridge on :8024 on every address of the container, state in /data.
#
#   docker build -t burrow --build-arg VERSION=$(git describe --tags --always --dirty) \
#       --build-arg COMMIT=$(git rev-parse HEAD) .
#   docker run -d --name burrow --network host -v burrow-data:/data burrow
#   docker logs burrow                          # the API key and the agent line
#   docker run --rm burrow version
#
# Any other instance URL replaces the default:
#   docker run -d --network host -v burrow-data:/data burrow "master://127.0.0.1:9090/api?bridge=0.0.0.0:8024&data=/data"
# and `docker run ... burrow key -data /data` prints the master's API key.
# packaging/docker/compose.yaml runs it beside NodePassDash.

ARG GO_VERSION=1.26

# The build runs on the builder's own platform and cross-compiles for the
# target (docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7).
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY plugins/examples/socks5/go.mod plugins/examples/socks5/go.sum plugins/examples/socks5/
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
ARG TARGETOS TARGETARCH TARGETVARIANT
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM=${TARGETVARIANT#v} \
	make build BIN=/out VERSION="$VERSION" COMMIT="$COMMIT" \
	&& install -d -m 0700 /out/data

# distroless/static: CA certificates, tzdata, /tmp (go-plugin's sockets) and
# the nonroot user (65532); no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/burrow /usr/local/bin/burrow
# The installed layout: the binary finds PREFIX/lib/burrow/plugins. Owned by
# root and not writable by the user Burrow runs as (the plugin host refuses
# plugins anyone else could change).
COPY --from=build /out/plugins /usr/local/lib/burrow/plugins
COPY --from=build --chown=65532:65532 /out/data /data
COPY LICENSE /usr/local/share/doc/burrow/LICENSE
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
# 9090: admin API and dashboard; 8024: the shared bridge agents dial.
EXPOSE 9090/tcp 8024/tcp 8024/udp
ENTRYPOINT ["/usr/local/bin/burrow"]
CMD ["master://0.0.0.0:9090/api?log=info&bridge=0.0.0.0:8024&data=/data"]
