package sdk

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pluginpb "github.com/burrowproject/burrow/plugins/sdk/proto"
)

// ProtocolVersion is the go-plugin protocol version of the handler service
// (proto package burrow.plugin.v1). A breaking change to the proto gets a
// new package and a new version; the host offers every version it speaks.
const ProtocolVersion = 1

// The go-plugin handshake cookie. It only stops a user from running a
// plugin binary by hand by mistake; it is not a secret.
const (
	MagicCookieKey   = "BURROW_PLUGIN"
	MagicCookieValue = "606b63a3bbab1be540d7af1e517eee448ee2696731678dc2"
)

// PluginName is the name the handler is dispensed under.
const PluginName = "handler"

// EnvFDLink names the environment variable that tells a plugin which
// descriptor is its fd link (the host sets it to 3, the first ExtraFiles
// entry).
const EnvFDLink = "BURROW_FDLINK_FD"

// EnvLogLevel names the environment variable that sets a plugin's log
// level (debug, info, warn, error); the host passes its own.
const EnvLogLevel = "BURROW_PLUGIN_LOG_LEVEL"

// HandshakeConfig returns the go-plugin handshake for protocol version v
// (0 = ProtocolVersion).
func HandshakeConfig(v int) plugin.HandshakeConfig {
	if v == 0 {
		v = ProtocolVersion
	}
	return plugin.HandshakeConfig{ProtocolVersion: uint(v), MagicCookieKey: MagicCookieKey, MagicCookieValue: MagicCookieValue}
}

// ClientPlugins is what a host offers to go-plugin's ClientConfig as
// VersionedPlugins: every protocol version it speaks. Dispensing
// PluginName gives a *Remote.
func ClientPlugins() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{ProtocolVersion: {PluginName: &GRPCPlugin{}}}
}

// GRPCPlugin is the go-plugin glue of a handler, used on both sides: in a
// plugin process it serves a PluginServer's control service, in the host it
// dispenses a *Remote.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *PluginServer // plugin side only
}

// GRPCServer implements plugin.GRPCPlugin.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginpb.RegisterHandlerServer(s, &shim{srv: p.srv})
	return nil
}

// GRPCClient implements plugin.GRPCPlugin.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return &Remote{c: pluginpb.NewHandlerClient(cc)}, nil
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)
