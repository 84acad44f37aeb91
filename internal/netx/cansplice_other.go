//go:build !linux

package netx

const canSplice = false
