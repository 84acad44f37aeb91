// Package events is the bus that feeds the master's Server-Sent Events
// streams.
//
// Publishers hand events to the Bus, which copies each one into the bounded
// buffer of every subscriber without ever blocking. A subscriber whose
// buffer is full is too slow: it is dropped (its channel is closed and a
// line is logged) so it can never delay the others; its client reconnects
// and re-syncs from the initial burst. Events reach every subscriber in the
// order they were published, so the order of events about one instance is
// kept when the publisher serialises them.
package events

import (
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Type is the kind of an event, as sent in the SSE payload's "type".
type Type string

// Event types.
const (
	Initial  Type = "initial"  // state of one instance right after subscribing
	Create   Type = "create"   // an instance was created
	Update   Type = "update"   // an instance changed (or its periodic report)
	Delete   Type = "delete"   // an instance was deleted
	Log      Type = "log"      // an instance logged a line
	Shutdown Type = "shutdown" // the stream ends (master stopping or API key rotated)
)

// Event is one message of the bus. Instance is a snapshot value (never
// shared mutable state) and nil only for Shutdown.
type Event struct {
	Type     Type
	Time     time.Time
	Instance any
	Logs     string
}

// DefaultBuffer is the per-subscriber buffer when New is given 0: a script
// creating and deleting 200 instances at once makes about 1000 events, so
// this leaves a slow dashboard four times that before it is dropped.
const DefaultBuffer = 4096

// Reasons a subscription ended, from Subscription.Err.
var (
	ErrSlow     = errors.New("events: subscriber too slow, dropped")
	ErrShutdown = errors.New("events: bus shut down")
	ErrClosed   = errors.New("events: subscription closed")
)

// Bus fans events out to subscribers. It is safe for concurrent use.
type Bus struct {
	log    *slog.Logger
	buffer int
	now    func() time.Time

	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
	nextID uint64
}

// New returns a bus whose subscribers buffer up to buffer events
// (DefaultBuffer when 0). log receives a line per dropped subscriber.
func New(log *slog.Logger, buffer int) *Bus {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bus{log: log, buffer: buffer, now: time.Now, subs: make(map[*Subscription]struct{})}
}

// Subscription is one subscriber's view of the bus.
type Subscription struct {
	id  uint64
	bus *Bus
	ch  chan Event
	err error // set under bus.mu when ch is closed
}

// Subscribe adds a subscriber whose stream starts with initial (typically
// the Initial events; the channel is sized to hold them all) followed by
// every event published after this call. A caller that needs the initial
// snapshot and the live events to line up holds its own lock across the
// snapshot and Subscribe, the same lock it holds when publishing.
// Subscribing to a bus that was shut down gives a stream holding initial
// and a Shutdown event, then closed.
func (b *Bus) Subscribe(initial []Event) *Subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextID++
	s := &Subscription{id: b.nextID, bus: b, ch: make(chan Event, len(initial)+b.buffer)}
	for _, ev := range initial {
		s.ch <- ev
	}
	if b.closed {
		s.ch <- Event{Type: Shutdown, Time: b.now()}
		s.err = ErrShutdown
		close(s.ch)
		return s
	}
	b.subs[s] = struct{}{}
	return s
}

// Events returns the stream. It is closed when the subscription ends; Err
// then tells why.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Err returns why the stream was closed (ErrSlow, ErrShutdown, ErrClosed),
// or nil while it is open.
func (s *Subscription) Err() error {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	return s.err
}

// Close ends the subscription; further events are not delivered. It is
// idempotent.
func (s *Subscription) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		s.err = ErrClosed
		close(s.ch)
	}
}

// Publish delivers ev to every subscriber without blocking. A zero Time is
// set to now. Subscribers whose buffer is full are dropped.
func (b *Bus) Publish(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = b.now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.ch <- ev:
		default:
			delete(b.subs, s)
			s.err = ErrSlow
			close(s.ch)
			b.log.Warn("SSE subscriber too slow, dropped", "subscriber", s.id, "buffer", cap(s.ch))
		}
	}
}

// Reset sends a Shutdown event to every current subscriber and closes their
// streams (clients reconnect); the bus stays usable for new subscribers.
// Used when the API key changes.
func (b *Bus) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.endAll()
}

// Shutdown is Reset for good: later subscribers get an immediate Shutdown
// and later publishes go nowhere.
func (b *Bus) Shutdown() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.endAll()
}

// endAll ends every subscription with a Shutdown event; b.mu is held.
func (b *Bus) endAll() {
	ev := Event{Type: Shutdown, Time: b.now()}
	for s := range b.subs {
		delete(b.subs, s)
		select {
		case s.ch <- ev:
			s.err = ErrShutdown
		default:
			s.err = ErrSlow // no room even for the shutdown: it was too slow anyway
		}
		close(s.ch)
	}
}

// Len returns the number of live subscribers.
func (b *Bus) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
