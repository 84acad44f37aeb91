//go:build race

package dgram_test

const raceEnabled = true
