//go:build !linux

package pluginhost

// asBatch runs start: only Linux has SCHED_BATCH.
func asBatch(start func() error) error { return start() }
