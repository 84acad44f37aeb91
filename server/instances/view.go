package instances

import (
	"maps"

	"github.com/burrowproject/burrow/server/store"
)

// KeyID is the id of the pseudo-instance that carries the API key.
const KeyID = "********"

// Limits of user-supplied strings, in bytes.
const (
	MaxAlias   = 256       // alias, master alias, each meta string
	MaxURL     = 4096      // instance URL
	MaxMetaLen = 16 * 1024 // JSON size of meta as a whole
)

// Status is the state of an instance.
type Status string

// Statuses. The key pseudo-instance has the empty status.
const (
	StatusStopped Status = "stopped"
	StatusRunning Status = "running"
	StatusError   Status = "error"
)

// Peer and Meta are the instance metadata as stored and served.
type (
	Peer = store.Peer
	Meta = store.Meta
)

// View is the instance object of the API and of SSE events: a snapshot
// copy, safe to keep and encode. Every field is always present; Alias and
// Meta.Tags are never null.
type View struct {
	ID      string `json:"id"`
	Alias   string `json:"alias"`
	Type    string `json:"type"`
	Status  Status `json:"status"`
	URL     string `json:"url"`
	Config  string `json:"config"`
	Restart bool   `json:"restart"`
	Meta    Meta   `json:"meta"`
	Mode    int    `json:"mode"`
	Ping    int    `json:"ping"`
	Pool    int    `json:"pool"`
	TCPs    int    `json:"tcps"`
	UDPs    int    `json:"udps"`
	TCPRx   int64  `json:"tcprx"`
	TCPTx   int64  `json:"tcptx"`
	UDPRx   int64  `json:"udprx"`
	UDPTx   int64  `json:"udptx"`
	// Reason says why the status is "error" ("" otherwise). Burrow extension.
	Reason string `json:"reason"`
	// Source is who declares the instance: "api" or "file" (a config
	// file, under Name; its URL is shown redacted). "" for the key
	// record. Burrow extension.
	Source string `json:"source"`
	Name   string `json:"name,omitempty"`
}

// Sources of View.Source.
const (
	SourceAPI  = "api"
	SourceFile = "file"
)

// cloneMeta returns a deep copy of m with a non-nil tag map.
func cloneMeta(m Meta) Meta {
	out := Meta{Peer: m.Peer, Tags: make(map[string]string, len(m.Tags))}
	maps.Copy(out.Tags, m.Tags)
	return out
}

// Patch is the body of PATCH /instances/{id}. Nil fields are absent.
type Patch struct {
	Alias   *string    `json:"alias"`
	Action  *string    `json:"action"`
	Restart *bool      `json:"restart"`
	Meta    *MetaPatch `json:"meta"`
}

// MetaPatch replaces the peer object and/or the whole tag map when present.
type MetaPatch struct {
	Peer *Peer              `json:"peer"`
	Tags *map[string]string `json:"tags"`
}

// Actions of PATCH.
const (
	ActionStart   = "start"
	ActionStop    = "stop"
	ActionRestart = "restart"
	ActionReset   = "reset"
)
