package host

import (
	"context"
	"errors"
	"os"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/block"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// How the host reports links that fail: a metric hook by reason, the
// sdk's LinkError for handlers, and a bounded number of warnings.

// OnLinkError sets fn to be called with a short reason (no_agent,
// agent_not_allowed, agent_refused, slots_full, target_not_allowed,
// timeout, blocked, other) for every link that fails, e.g. to feed a
// metric. Call it before the host serves.
func (h *Host) OnLinkError(fn func(reason string)) { h.onLinkError = fn }

// linkFailed reports a failed link to the hook.
func (h *Host) linkFailed(err error) {
	if h.onLinkError == nil {
		return
	}
	var ve *bridge.VerdictError
	reason := "other"
	switch {
	case errors.Is(err, bridge.ErrNoAgent), errors.Is(err, sdk.ErrNoAgent):
		reason = "no_agent"
	case errors.As(err, &ve) && ve.NotAllowed:
		reason = "agent_not_allowed"
	case errors.As(err, &ve):
		reason = "agent_refused"
	case errors.Is(err, sdk.ErrSlotsFull):
		reason = "slots_full"
	case errors.Is(err, sdk.ErrTargetNotAllowed):
		reason = "target_not_allowed"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		reason = "timeout"
	}
	if _, ok := block.IsBlocked(err); ok {
		reason = "blocked"
	}
	h.onLinkError(reason)
}

// linkError turns a bridge error into the sdk's LinkError.
func linkError(id, target string, err error) *sdk.LinkError {
	le := &sdk.LinkError{Instance: id, Target: target, Reason: err.Error(), Err: err}
	var ve *bridge.VerdictError
	switch {
	case errors.As(err, &ve):
		le.Reason = ve.Reason
	case errors.Is(err, bridge.ErrNoAgent):
		le.Reason, le.Err = "agent offline", sdk.ErrNoAgent
	}
	return le
}

// refused logs a link that could not be opened, with the agent's reason
// where there is one (and the request id the user was shown, if any), and
// counts it. At most LinkLog lines per window are written; the rest are
// counted (see quiet).
func (h *Host) refused(in *instance, hdr bridge.LinkHeader, requestID string, err error) {
	h.linkFailed(err)
	ok, earlier := in.quiet.allow()
	if !ok {
		if h.onQuiet != nil {
			h.onQuiet(1)
		}
		return
	}
	target := hdr.Target
	if target == "" {
		target = "agent default"
	}
	attrs := []any{"target", target, "reason", linkError(in.Spec.ID, hdr.Target, err).Reason}
	if requestID != "" {
		attrs = append(attrs, "request_id", requestID)
	}
	if earlier > 0 {
		attrs = append(attrs, "suppressed", earlier)
	}
	in.log.Warn("link failed", attrs...)
}
