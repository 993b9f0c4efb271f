package muxguard_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/internal/muxguard"
)

// A server puts the guard between the socket and yamux.Server, and asks it
// why the session ended. Here the client floods Ping requests and never
// reads: the 17th at once ends the session.
func Example() {
	socket, peer := net.Pipe() // the server's socket, after the preface
	guard, err := muxguard.New(socket, muxguard.DefaultConfig())
	if err != nil {
		panic(err)
	}
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	sess, err := yamux.Server(guard, cfg)
	if err != nil {
		panic(err)
	}
	defer sess.Close()

	flooded := make(chan struct{})
	go func() { // the hostile client
		defer close(flooded)
		ping := []byte{0x00, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0} // Ping, SYN
		for {
			if _, err := peer.Write(bytes.Repeat(ping, 64)); err != nil {
				return
			}
		}
	}()

	_, err = sess.AcceptStream() // returns when the session ends
	// gerr.Reason is "the peer sent 17 yamux Ping requests within …".
	var gerr *muxguard.Error
	fmt.Println("ended by the guard:", errors.As(err, &gerr) && guard.Err() == err)
	fmt.Println("Ping requests counted:", guard.Pings())
	peer.Close()
	<-flooded
	// Output:
	// ended by the guard: true
	// Ping requests counted: 17
}
