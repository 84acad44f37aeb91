// Package packaging tests what Burrow ships and how it is installed, through
// the real build: `make install` (the installed binary finds its plugins),
// `make release` (archives whose checksums, manifests and binaries are
// right), the systemd units (systemd-analyze verify and security, when
// systemd-analyze is present), the Docker image (built and run when a
// container engine answers) and the default URLs of the Dockerfile and the
// compose example. Tests whose tool is missing skip, saying which.
//
// Its tests run make, which builds with the Go build cache: with a warm
// cache they link rather than compile.
package packaging
