//go:build race

package netx_test

// raceEnabled: the tests run under the race detector.
const raceEnabled = true
