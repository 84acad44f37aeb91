//go:build !unix

package dgram

import "syscall"

// rawReads: this platform reads through a full-size buffer (see Reader).
const rawReads = false

type rawReader struct{}

func newRawReader(syscall.RawConn, *Pool, bool) *rawReader { panic("dgram: no raw reads here") }

func (*rawReader) read() (*[]byte, error) { panic("dgram: no raw reads here") }

func (*rawReader) tryRead() (*[]byte, error) { panic("dgram: no raw reads here") }
