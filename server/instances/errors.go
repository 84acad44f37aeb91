package instances

import (
	"errors"
	"fmt"
)

// Kind classifies an API-facing error; the web layer maps it to a status.
type Kind int

// Error kinds.
const (
	KindInvalid     Kind = iota + 1 // 400
	KindNotFound                    // 404
	KindConflict                    // 409
	KindForbidden                   // 403
	KindUnavailable                 // 503: the manager is shutting down
)

// Error is an error with a message meant for the API caller (the NodePass
// texts such as "Instance not found").
type Error struct {
	Kind Kind
	Msg  string
	Err  error // underlying cause, if any
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

func errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// ErrKeyChanged is SubscribeAs's refusal of a key that is no longer the
// API key (it was rotated while the request was on its way).
var ErrKeyChanged = errors.New("instances: the API key changed")

// NodePass's error texts.
var (
	errNotFound    = &Error{Kind: KindNotFound, Msg: "Instance not found"}
	errConflict    = &Error{Kind: KindConflict, Msg: "Instance URL conflict"}
	errForbidden   = &Error{Kind: KindForbidden, Msg: "Forbidden: API Key"}
	errClosed      = &Error{Kind: KindUnavailable, Msg: "Master is shutting down"}
	errBadScheme   = &Error{Kind: KindInvalid, Msg: "Invalid URL scheme"}
	errAliasLength = &Error{Kind: KindInvalid, Msg: fmt.Sprintf("Instance alias exceeds maximum length %d", MaxAlias)}
)
