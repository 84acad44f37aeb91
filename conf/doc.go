// Package conf implements Burrow's instance URL grammar.
//
// Every running unit of Burrow (the master, a NodePass-style server or client,
// a tcp/udp/http handler or a protocol plugin) is described by one URL:
//
//	scheme://[key@]listen_host:port/target_host:port[,target2,...]?param=value&...
//
// [Parse] checks the grammar and every known parameter and returns an
// [Instance] with a typed view of the parameters ([Params]) whose defaults are
// filled in. [Instance.String] gives the normalised URL (query keys sorted,
// unknown parameters kept) and [Instance.Config] the same URL with every
// default spelled out, as the NodePass master API shows them.
//
// Every parameter is declared once, with the schemes that take it, its
// values, default and a one-line doc; [ParamDocs] returns those
// declarations for help text (`burrow help params`).
//
// Errors are *[URLError] values naming each offending part. Secrets (the key
// in the userinfo, the agent key and the auth password) never appear in an
// error message nor in [Instance.Redacted].
//
// The package imports nothing but the standard library.
package conf
