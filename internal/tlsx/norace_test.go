//go:build !race

package tlsx_test

const raceEnabled = false
