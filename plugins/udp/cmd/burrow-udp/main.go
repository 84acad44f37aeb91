// Command burrow-udp is the udp handler as a go-plugin process. The Burrow
// server launches it from its plugin directory; it is not run by hand.
package main

import (
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/plugins/udp"
)

func main() { sdk.Serve(udp.New()) }
