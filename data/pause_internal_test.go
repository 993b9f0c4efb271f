package data

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/manifest"
)

// rawServer runs a server end of logs.sink over a pipe and returns it with
// the other end as a peer that speaks frames by hand, and a channel of the
// frames the server sends.
func rawServer(t *testing.T, window int64) (*Conn, net.Conn, <-chan *Frame) {
	m, err := manifest.Load("../testdata/manifests/logs.sink.yaml")
	if err != nil {
		t.Fatal(err)
	}
	json, _ := codec.Standard().Lookup(codec.NameJSON)
	a, b := net.Pipe()
	srv := New(a, nil, Config{ID: 1, Manifest: m, Codec: json, Server: true, Window: window, AutoGrant: true, CloseTimeout: time.Second}).Start()
	frames := make(chan *Frame, 1024)
	go func() {
		defer close(frames)
		fr := NewFrameReader(bufio.NewReader(b), 1<<20)
		for {
			f, err := fr.Read()
			if err != nil {
				return
			}
			frames <- f
		}
	}()
	t.Cleanup(func() {
		srv.Close("test over")
		b.Close()
	})
	return srv, b, frames
}

const record = `{"level":"info","message":"hi","time":"2026-12-01T10:00:00Z"}`

func send(t *testing.T, peer net.Conn, seq uint64, typeID uint32) {
	t.Helper()
	go peer.Write(AppendFrame(nil, &Frame{Kind: FrameMessage, Seq: seq, TypeID: typeID, Body: []byte(record)}))
}

// Issue 12, finding 1: while paused, a receiver grants nothing and counts
// nothing as granted; a peer that sends without credit is cut off all the
// same; on resume the grant is at most the window.
func TestCreditIsEnforcedWhilePaused(t *testing.T) {
	srv, peer, frames := rawServer(t, 32)
	id := srv.Manifest().Recv[0].ID
	srv.Pause(true)
	for seq := uint64(1); seq <= 32; seq++ {
		send(t, peer, seq, id)
		if _, err := srv.Recv(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if st := srv.Stats(); st.CreditsGranted != 0 {
		t.Fatalf("paused, the server counts %d credits as granted; it granted none", st.CreditsGranted)
	}
	send(t, peer, 33, id)
	<-srv.Done()
	if codes.Of(srv.Err()) != codes.CreditViolation {
		t.Fatalf("a message without credit while paused: the connection ended with %v, want credit_violation", srv.Err())
	}
	for f := range frames {
		if f.Kind == FrameCredit {
			t.Fatalf("the paused server sent %s", f)
		}
	}
}

func TestResumeGrantsAtMostTheWindow(t *testing.T) {
	srv, peer, frames := rawServer(t, 32)
	id := srv.Manifest().Recv[0].ID
	srv.Pause(true)
	for seq := uint64(1); seq <= 32; seq++ {
		send(t, peer, seq, id)
		if _, err := srv.Recv(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	srv.Pause(false)
	select {
	case f := <-frames:
		if f.Kind != FrameCredit || f.Credits != 32 || f.Seq != 32 {
			t.Fatalf("on resume the server sent %s, want CREDIT of 32 having consumed 32", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no CREDIT on resume")
	}
	if st := srv.Stats(); st.CreditsGranted != 32 {
		t.Fatalf("after resume: %d credits granted, want 32", st.CreditsGranted)
	}
}

// §6.5 row 0: a client of a send interface that sends anything, even out
// of sequence, is told wrong_direction before any other check.
func TestSendInterfaceRefusesAnyMessageFirst(t *testing.T) {
	m, err := manifest.Load("../testdata/manifests/sensors.temperature.yaml")
	if err != nil {
		t.Fatal(err)
	}
	json, _ := codec.Standard().Lookup(codec.NameJSON)
	a, b := net.Pipe()
	srv := New(a, nil, Config{ID: 1, Manifest: m, Codec: json, Server: true, ReceivesNothing: true, CloseTimeout: time.Second}).Start()
	defer srv.Close("")
	defer b.Close()
	go b.Write(AppendFrame(nil, &Frame{Kind: FrameMessage, Seq: 7, TypeID: 99}))
	go func() {
		fr := NewFrameReader(bufio.NewReader(b), 1<<20)
		for {
			if _, err := fr.Read(); err != nil {
				return
			}
		}
	}()
	<-srv.Done()
	if codes.Of(srv.Err()) != codes.WrongDirection {
		t.Fatalf("ended with %v, want wrong_direction", srv.Err())
	}
}
