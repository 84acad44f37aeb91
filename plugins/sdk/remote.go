package sdk

import (
	"context"
	"errors"

	"google.golang.org/grpc/status"

	pluginpb "github.com/burrowproject/burrow/plugins/sdk/proto"
)

// Remote is the host's side of a plugin's control service, dispensed by
// go-plugin. It carries control only; the host pairs it with the plugin's
// fd link, over which it sends the sockets that Start names by ticket.
type Remote struct {
	c pluginpb.HandlerClient
}

// Event is something a plugin reports on its Events stream.
type Event struct {
	Kind     string // "ready", "warning", "state", "exchanges" (since sdk 1.3.0), "counts" (1.4.0)
	Instance string
	State    string
	Message  string
	// Exchanges: a batch of recorded HTTP exchanges, and how many the
	// plugin dropped per instance since its last batch (its queue was full).
	Exchanges []*Exchange
	Dropped   map[string]uint64
	// Counts: what the handler counted for Instance since the last such
	// event (see Counter), by counter name.
	Counts map[string]uint64
}

// Describe asks the plugin what it is.
func (r *Remote) Describe(ctx context.Context) (Descriptor, error) {
	d, err := r.c.Describe(ctx, &pluginpb.DescribeRequest{})
	if err != nil {
		return Descriptor{}, rpcError(err)
	}
	return descFromPB(d), nil
}

// Validate asks the plugin to check spec; the error text is the handler's.
func (r *Remote) Validate(ctx context.Context, spec InstanceSpec) error {
	rep, err := r.c.Validate(ctx, specToPB(spec))
	if err != nil {
		return rpcError(err)
	}
	if rep.GetError() != "" {
		return errors.New(rep.GetError())
	}
	return nil
}

// Start starts an instance whose sockets were sent on the fd link with the
// given tickets (0 = none).
func (r *Remote) Start(ctx context.Context, spec InstanceSpec, listenerTicket, packetTicket uint64) error {
	_, err := r.c.Start(ctx, &pluginpb.StartRequest{Spec: specToPB(spec), ListenerTicket: listenerTicket, PacketTicket: packetTicket})
	return rpcError(err)
}

// Stop stops an instance.
func (r *Remote) Stop(ctx context.Context, instanceID string) error {
	_, err := r.c.Stop(ctx, &pluginpb.StopRequest{Instance: instanceID})
	return rpcError(err)
}

// Events calls fn for each event the plugin reports until the stream ends
// or ctx is done. It returns the error that ended the stream: a plugin that
// died ends it with an error.
func (r *Remote) Events(ctx context.Context, fn func(Event)) error {
	st, err := r.c.Events(ctx, &pluginpb.EventsRequest{})
	if err != nil {
		return rpcError(err)
	}
	for {
		ev, err := st.Recv()
		if err != nil {
			return rpcError(err)
		}
		out := Event{Kind: kindName(ev.GetKind()), Instance: ev.GetInstance(), State: ev.GetState(), Message: ev.GetMessage(), Dropped: ev.GetDropped(), Counts: ev.GetCounts()}
		for _, x := range ev.GetExchanges() {
			out.Exchanges = append(out.Exchanges, exchangeFromPB(x))
		}
		fn(out)
	}
}

func kindName(k pluginpb.Event_Kind) string {
	switch k {
	case pluginpb.Event_KIND_READY:
		return "ready"
	case pluginpb.Event_KIND_WARNING:
		return "warning"
	case pluginpb.Event_KIND_STATE:
		return "state"
	case pluginpb.Event_KIND_EXCHANGES:
		return "exchanges"
	case pluginpb.Event_KIND_COUNTS:
		return "counts"
	}
	return "unknown"
}

// rpcError turns a gRPC status into a plain error carrying the handler's
// message, so errors read the same in and out of process.
func rpcError(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok {
		return &RemoteError{Code: s.Code().String(), Msg: s.Message()}
	}
	return err
}

// RemoteError is an error a plugin returned, or the failure of the call.
type RemoteError struct {
	Code string // the gRPC code, e.g. "Unknown", "Unavailable"
	Msg  string
}

func (e *RemoteError) Error() string { return e.Msg }

// Unavailable reports whether the call failed because the plugin could not
// be reached (it died or is exiting), rather than the handler refusing.
func (e *RemoteError) Unavailable() bool { return e.Code == "Unavailable" || e.Code == "Canceled" }
