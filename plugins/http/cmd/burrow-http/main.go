// Command burrow-http is the http handler as a go-plugin process. The Burrow
// server launches it from its plugin directory; it is not run by hand.
package main

import (
	"github.com/burrowproject/burrow/plugins/http"
	"github.com/burrowproject/burrow/plugins/sdk"
)

func main() { sdk.Serve(http.New()) }
