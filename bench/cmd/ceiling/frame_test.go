package main

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The frames the batched writer sends, one writev for several, are read by
// gorilla's client as the messages they carry, at each length encoding
// (7-bit, 16-bit, 64-bit) and at their edges.
func TestAppendFrameReadByGorilla(t *testing.T) {
	lengths := []int{0, 1, 125, 126, 127, 65535, 65536, 200000}
	var payloads [][]byte
	for i, n := range lengths {
		payloads = append(payloads, bytes.Repeat([]byte{'a' + byte(i)}, n))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		served <- serveFrames(ln, payloads)
	}()

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i, want := range payloads {
		typ, got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("message %d (%d bytes): %v", i, len(want), err)
		}
		if typ != websocket.TextMessage || !bytes.Equal(got, want) {
			t.Fatalf("message %d: type %d, %d bytes; want a text message of %d bytes", i, typ, len(got), len(want))
		}
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

func TestAppendFrameHeader(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		f := appendFrame(nil, make([]byte, tc.n))
		if !bytes.Equal(f[:len(tc.want)], tc.want) || len(f) != len(tc.want)+tc.n {
			t.Errorf("%d bytes: header % x, length %d; want % x, %d", tc.n, f[:len(tc.want)], len(f), tc.want, len(tc.want)+tc.n)
		}
	}
}

// serveFrames accepts one connection, answers its WebSocket upgrade and
// sends every payload as a frame of appendFrame's, all in one writev.
func serveFrames(ln net.Listener, payloads [][]byte) error {
	conn, err := ln.Accept()
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(conn))
	if err != nil {
		return err
	}
	h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(h[:]) + "\r\n\r\n"
	if _, err := conn.Write([]byte(resp)); err != nil {
		return err
	}
	var bufs net.Buffers
	for _, p := range payloads {
		bufs = append(bufs, appendFrame(nil, p))
	}
	_, err = bufs.WriteTo(conn)
	return err
}
