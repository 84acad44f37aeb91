//go:build linux

package netx

// canSplice: the kernel moves bytes between sockets (splice(2)).
const canSplice = true
