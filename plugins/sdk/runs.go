package sdk

import (
	"context"
	"fmt"
	"sync"
)

// Runs tracks a handler's running instances: each runs in one goroutine
// with its own context, and Stop cancels it and waits for it to return.
// Handlers use it so that every instance goroutine has an owner and an exit.
// The zero value is ready to use.
type Runs struct {
	mu sync.Mutex
	m  map[string]*run
}

type run struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Go runs fn for instance id until Stop. It fails if id is already running.
func (r *Runs) Go(id string, fn func(ctx context.Context)) error {
	ctx, cancel := context.WithCancel(context.Background())
	x := &run{cancel: cancel, done: make(chan struct{})}
	if err := r.put(id, x); err != nil {
		cancel()
		return err
	}
	go func() {
		defer close(x.done)
		fn(ctx)
	}()
	return nil
}

// Add records instance id as running with nothing to run: for a handler
// whose instances the host serves (Forward). It fails if id is already
// running; Stop forgets it.
func (r *Runs) Add(id string) error {
	done := make(chan struct{})
	close(done)
	return r.put(id, &run{cancel: func() {}, done: done})
}

func (r *Runs) put(id string, x *run) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]*run)
	}
	if _, ok := r.m[id]; ok {
		return fmt.Errorf("instance %s is already running", id)
	}
	r.m[id] = x
	return nil
}

// Stop cancels instance id and waits for its goroutine, or for ctx.
func (r *Runs) Stop(ctx context.Context, id string) error {
	r.mu.Lock()
	x := r.m[id]
	delete(r.m, id)
	r.mu.Unlock()
	if x == nil {
		return fmt.Errorf("instance %s: %w", id, ErrUnknownInstance)
	}
	x.cancel()
	select {
	case <-x.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop instance %s: %w", id, ctx.Err())
	}
}
