//go:build !unix

package dgram

import "syscall"

// rawReads: this platform reads through a full-size buffer (see ReadPacket).
const rawReads = false

func readRaw(syscall.RawConn, *Pool, bool) (*[]byte, error) { panic("dgram: no raw reads here") }
