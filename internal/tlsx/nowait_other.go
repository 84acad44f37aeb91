//go:build !unix

package tlsx

type noWaitRead struct{}

// readNoWait has no non-blocking read here: a Conn's Read returns one
// record at a time, as tls.Conn's does.
func (b *batchConn) readNoWait([]byte) (int, error) { return 0, errWouldBlock }
