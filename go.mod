module github.com/burrowproject/burrow

go 1.26.0

require (
	github.com/gorilla/websocket v1.5.3
	github.com/xtaci/smux v1.5.58
	go.uber.org/goleak v1.3.0
	golang.org/x/time v0.15.0
)

require github.com/stretchr/testify v1.11.1 // indirect
