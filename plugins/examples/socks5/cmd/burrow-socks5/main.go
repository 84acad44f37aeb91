// Command burrow-socks5 is the SOCKS5 example handler as a Burrow plugin.
// Build it, put it in the server's plugin directory and pin its SHA-256 in
// plugins.sha256; then an instance URL such as
//
//	socks5://:1080/10.0.0.0/8,*.lan:*?agent=KEY&auth=alice:secret
//
// serves SOCKS5 CONNECT through the agents of KEY, to targets matching the
// patterns only.
package main

import (
	"github.com/burrowproject/burrow/plugins/examples/socks5"
	"github.com/burrowproject/burrow/plugins/sdk"
)

func main() { sdk.Serve(socks5.New()) }
