package bridge

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/burrowproject/burrow/internal/dgram"
)

// MaxDatagram is the largest datagram a link carries.
const MaxDatagram = dgram.Max

// DatagramConn carries datagrams over a stream, each as a 2-byte big-endian
// length and the payload. Every Write sends one datagram and every Read
// returns one, like a connected UDP socket. A datagram larger than the
// buffer given to Read is truncated, as UDP does. It holds no buffer of its
// own: ReadPacket and Write use the shared dgram pool for one datagram at a
// time.
type DatagramConn struct {
	net.Conn
	rmu sync.Mutex
	hdr [2]byte
	wmu sync.Mutex
}

// NewDatagramConn frames datagrams over c.
func NewDatagramConn(c net.Conn) *DatagramConn { return &DatagramConn{Conn: c} }

// Read reads one datagram into p.
func (d *DatagramConn) Read(p []byte) (int, error) {
	d.rmu.Lock()
	defer d.rmu.Unlock()
	if _, err := io.ReadFull(d.Conn, d.hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("read datagram length: %w", err)
		}
		return 0, err
	}
	n := int(binary.BigEndian.Uint16(d.hdr[:]))
	if n <= len(p) {
		if _, err := io.ReadFull(d.Conn, p[:n]); err != nil {
			return 0, fmt.Errorf("read datagram of %d bytes: %w", n, noEOF(err))
		}
		return n, nil
	}
	if _, err := io.ReadFull(d.Conn, p); err != nil {
		return 0, fmt.Errorf("read datagram of %d bytes: %w", n, noEOF(err))
	}
	if _, err := io.CopyN(io.Discard, d.Conn, int64(n-len(p))); err != nil {
		return 0, fmt.Errorf("skip rest of datagram: %w", noEOF(err))
	}
	return len(p), nil
}

// ReadPacket implements dgram.PacketReader: it waits for a datagram's
// length, then reads the datagram into a buffer of that size from pool.
func (d *DatagramConn) ReadPacket(pool *dgram.Pool) (*[]byte, error) {
	d.rmu.Lock()
	defer d.rmu.Unlock()
	if _, err := io.ReadFull(d.Conn, d.hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("read datagram length: %w", err)
		}
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(d.hdr[:]))
	b := pool.Get(n)
	if _, err := io.ReadFull(d.Conn, *b); err != nil {
		pool.Put(b)
		return nil, fmt.Errorf("read datagram of %d bytes: %w", n, noEOF(err))
	}
	return b, nil
}

// Write sends p as one datagram.
func (d *DatagramConn) Write(p []byte) (int, error) {
	if len(p) > MaxDatagram {
		return 0, fmt.Errorf("datagram of %d bytes exceeds %d", len(p), MaxDatagram)
	}
	frame := dgram.Shared.Get(2 + len(p)) // one write: one tunnel frame
	binary.BigEndian.PutUint16(*frame, uint16(len(p)))
	copy((*frame)[2:], p)
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if _, err := d.Conn.Write(*frame); err != nil {
		// Not back to the pool: a stream whose Write failed (timed out, its
		// session dying) may still send the queued frame from it later.
		return 0, err
	}
	dgram.Shared.Put(frame)
	return len(p), nil
}

// WriteBatch implements dgram.BatchWriter: the datagrams of ds, each
// framed as Write frames it, in one write of the stream (one TLS record
// for a batch within dgram.BatchBytes). Batches too large for one buffer
// are written one datagram at a time.
func (d *DatagramConn) WriteBatch(ds []*[]byte) error {
	size := 0
	for _, p := range ds {
		if len(*p) > MaxDatagram {
			return fmt.Errorf("datagram of %d bytes exceeds %d", len(*p), MaxDatagram)
		}
		size += 2 + len(*p)
	}
	if size > MaxDatagram+2 {
		for _, p := range ds {
			if _, err := d.Write(*p); err != nil {
				return err
			}
		}
		return nil
	}
	frames := dgram.Shared.Get(size)
	at := 0
	for _, p := range ds {
		binary.BigEndian.PutUint16((*frames)[at:], uint16(len(*p)))
		at += 2 + copy((*frames)[at+2:], *p)
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if _, err := d.Conn.Write(*frames); err != nil {
		return err // frames not pooled again: see Write
	}
	dgram.Shared.Put(frames)
	return nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
