package data_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/manifest"
)

// blobManifest is a duplex interface of bytes messages up to 1 MiB.
func blobManifest(t testing.TB, credits int) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Parse("blob.yaml", fmt.Appendf(nil, `
ifkit: 1
name: test.blob
version: 1.0.0
direction: duplex
codecs: [proto]
protos: [google/protobuf/wrappers.proto]
messages:
  send:
    Out: {proto: google.protobuf.BytesValue}
  recv:
    In: {proto: google.protobuf.BytesValue}
    Ask:
      proto: google.protobuf.BytesValue
      reply: {type: Out}
flow: {credits: %d, max_message_bytes: 1048576, on_exhausted: block}
`, credits), manifest.WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func protoCodec(t testing.TB) codec.Codec {
	c, ok := codec.Standard().Lookup(codec.NameProto)
	if !ok {
		t.Fatal("no proto codec")
	}
	return c
}

// payload returns n bytes that say which message they are.
func payload(i, n int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, n)
	copy(b, fmt.Sprint(i))
	return b
}

// RecvFunc lends each message to fn in order, small and large (a large one
// is read into a reused buffer), and a Clone keeps its bytes after the
// borrowed message is reused. fn's error ends RecvFunc with that error;
// what comes next waits for Recv.
func TestRecvFuncLendsInOrder(t *testing.T) {
	const window = 8
	m := blobManifest(t, window)
	pc := protoCodec(t)
	srv, cli := data.PipeForTest(t, m, data.Config{Codec: pc}, data.Config{Codec: pc})
	sizes := []int{10, 1 << 10, 40 << 10, 64 << 10, 200 << 10, 64 << 10, 16}
	go func() {
		// A window of fillers first: they may arrive before RecvFunc
		// starts (and wait in the inbox, not lent); what follows needs
		// their credit back, so it comes while RecvFunc runs.
		for range window {
			if err := srv.Send(context.Background(), "Out", wrapperspb.Bytes([]byte("filler"))); err != nil {
				return
			}
		}
		for i, n := range sizes {
			if err := srv.Send(context.Background(), "Out", wrapperspb.Bytes(payload(i, n))); err != nil {
				return
			}
		}
		srv.Send(context.Background(), "Out", wrapperspb.Bytes([]byte("after")))
	}()
	stop := errors.New("enough")
	var (
		kept    []*data.Message
		got     int
		fillers int
	)
	err := cli.RecvFunc(ctx(t), func(msg *data.Message) error {
		if fillers < window {
			fillers++
			return nil
		}
		if !msg.Borrowed() {
			t.Errorf("message %d is not borrowed", msg.Seq)
		}
		var v wrapperspb.BytesValue
		if err := msg.Decode(&v); err != nil {
			return err
		}
		if !bytes.Equal(v.Value, payload(got, sizes[got])) {
			t.Errorf("message %d: %d bytes, not the ones sent", msg.Seq, len(v.Value))
		}
		kept = append(kept, msg.Clone())
		got++
		if got == len(sizes) {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Fatalf("RecvFunc = %v, want fn's error as it is", err)
	}
	for i, k := range kept {
		var v wrapperspb.BytesValue
		if err := k.Decode(&v); err != nil || k.Borrowed() || !bytes.Equal(v.Value, payload(i, sizes[i])) {
			t.Fatalf("clone %d changed after its original was reused (%v)", i, err)
		}
	}
	next, err := cli.Recv(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var v wrapperspb.BytesValue
	if err := next.Decode(&v); err != nil || string(v.Value) != "after" || next.Borrowed() {
		t.Fatalf("after RecvFunc, Recv got %q (%v)", v.Value, err)
	}
}

// Messages already waiting for Recv go to fn first; a window's worth of
// messages through fn keeps credit flowing (each call's credit goes back
// when it returns).
func TestRecvFuncTakesQueuedFirstAndReturnsCredit(t *testing.T) {
	m := blobManifest(t, 4)
	pc := protoCodec(t)
	srv, cli := data.PipeForTest(t, m, data.Config{Codec: pc}, data.Config{Codec: pc})
	const total = 100
	go func() {
		for i := range total {
			if err := srv.Send(context.Background(), "Out", wrapperspb.Bytes(payload(i, 8))); err != nil {
				return
			}
		}
	}()
	// Let the first window arrive and wait in the inbox.
	deadline := time.Now().Add(5 * time.Second)
	for cli.Stats().ReceivedMessages < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	next := 0
	err := cli.RecvFunc(ctx(t), func(msg *data.Message) error {
		var v wrapperspb.BytesValue
		if err := msg.Decode(&v); err != nil {
			return err
		}
		if !bytes.Equal(v.Value, payload(next, 8)) {
			return fmt.Errorf("message %d out of order: %q", next, v.Value)
		}
		next++
		if next == total {
			return context.Canceled
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || next != total {
		t.Fatalf("RecvFunc = %v after %d of %d messages", err, next, total)
	}
}

// RecvFunc returns when its context is done, and fn is never called after;
// one RecvFunc at a time; when the connection ends it returns the reason.
func TestRecvFuncEnds(t *testing.T) {
	m := blobManifest(t, 8)
	pc := protoCodec(t)
	srv, cli := data.PipeForTest(t, m, data.Config{Codec: pc}, data.Config{Codec: pc})
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	returned := make(chan struct{})
	go func() {
		<-returned
		srv.Send(context.Background(), "Out", wrapperspb.Bytes([]byte("late")))
	}()
	err := cli.RecvFunc(short, func(msg *data.Message) error {
		select {
		case <-returned:
			t.Error("fn called after RecvFunc returned")
		default:
		}
		return nil
	})
	close(returned)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RecvFunc = %v, want the context's error", err)
	}
	if _, err := cli.Recv(ctx(t)); err != nil { // the late message waits for Recv
		t.Fatal(err)
	}

	running := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- cli.RecvFunc(context.Background(), func(*data.Message) error {
			close(running)
			return nil
		})
	}()
	srv.Send(context.Background(), "Out", wrapperspb.Bytes([]byte("x")))
	<-running
	if err := cli.RecvFunc(context.Background(), func(*data.Message) error { return nil }); !errors.Is(err, data.ErrRecvFuncBusy) {
		t.Fatalf("a second RecvFunc = %v, want ErrRecvFuncBusy", err)
	}
	srv.Close("done")
	if err := <-result; codes.Of(err) != codes.NormalClose {
		t.Fatalf("RecvFunc at the end = %v, want the close reason", err)
	}
}

// An inline handler answers on the reader with a borrowed request; a reply
// that would wait for credit (the client granted none) fails with
// ErrNoCredit rather than blocking the reader for good.
func TestInlineHandlers(t *testing.T) {
	m := load(t, "db.kv")
	handler := func(ctx context.Context, msg *data.Message) error {
		if !msg.Borrowed() {
			return errors.New("not borrowed")
		}
		var req struct{ Key string }
		if err := msg.Decode(&req); err != nil {
			return err
		}
		return msg.Reply(ctx, map[string]any{"key": req.Key, "found": true})
	}
	_, cli := data.PipeForTest(t, m, data.Config{InlineHandlers: true, Handlers: map[string]data.Handler{"Get": handler}}, data.Config{})
	for i := range 300 { // past the window: credit comes back
		key := fmt.Sprint("k", i)
		reply, err := cli.Call(ctx(t), "Get", json.RawMessage(`{"key":"`+key+`"}`))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if !strings.Contains(string(reply.Data), `"key":"`+key+`"`) {
			t.Fatalf("reply %d: %s", i, reply.Data)
		}
	}

	var replyErr error
	_, pull := data.PipeForTest(t, m, data.Config{InlineHandlers: true, Handlers: map[string]data.Handler{"Get": func(ctx context.Context, msg *data.Message) error {
		replyErr = handler(ctx, msg)
		return replyErr
	}}}, data.Config{AutoGrant: false, Window: 4})
	_, err := pull.Call(ctx(t), "Get", json.RawMessage(`{"key":"a"}`))
	var re *codes.RemoteError
	if !errors.As(err, &re) || re.Code != codes.Internal {
		t.Fatalf("call without credit for its reply = %v, want the handler's error as internal", err)
	}
	if !errors.Is(replyErr, data.ErrNoCredit) {
		t.Fatalf("Reply on the reader without credit = %v, want ErrNoCredit", replyErr)
	}
}

// SendBatch queues messages in order, more than one window's worth, and
// they arrive in order.
func TestSendBatch(t *testing.T) {
	m := blobManifest(t, 16)
	pc := protoCodec(t)
	srv, cli := data.PipeForTest(t, m, data.Config{Codec: pc}, data.Config{Codec: pc})
	const total = 300
	vs := make([]any, total)
	for i := range vs {
		vs[i] = wrapperspb.Bytes(payload(i, 100))
	}
	sent := make(chan error, 1)
	go func() {
		n, err := srv.SendBatch(context.Background(), "Out", vs)
		if err == nil && n != total {
			err = fmt.Errorf("SendBatch sent %d of %d", n, total)
		}
		sent <- err
	}()
	for i := range total {
		msg, err := cli.Recv(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		var v wrapperspb.BytesValue
		if err := msg.Decode(&v); err != nil || !bytes.Equal(v.Value, payload(i, 100)) {
			t.Fatalf("message %d not the one sent (%v)", i, err)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if n, err := srv.SendBatch(context.Background(), "Out", []any{wrapperspb.Bytes(nil), "not a proto"}); n != 1 || err == nil {
		t.Fatalf("SendBatch with a bad second message = %d, %v; want 1 sent and an error", n, err)
	}
	if n, err := srv.SendBatch(context.Background(), "In", vs[:1]); n != 0 || !errors.Is(err, data.ErrWrongWay) {
		t.Fatalf("SendBatch of a type the server may not send = %d, %v", n, err)
	}
}

// The reader settles the credit of the messages it lends in runs (one
// ledger lock per run, not two per message): the sender still gets every
// grant in time, and once RecvFunc has returned, the messages fn consumed
// are counted as consumed (the sender's WaitPeerConsumed sees all of them).
// A RecvFunc stopped by its context mid-stream returns while messages keep
// coming, and Recv then has the rest, in order.
func TestRecvFuncSettlesItsRuns(t *testing.T) {
	const window, total = 64, 100 * 64
	m := blobManifest(t, window)
	pc := protoCodec(t)
	srv, cli := data.PipeForTest(t, m, data.Config{Codec: pc}, data.Config{Codec: pc})
	go func() {
		for i := range 2 * total {
			if err := srv.Send(context.Background(), "Out", wrapperspb.Bytes(payload(i, 8))); err != nil {
				return
			}
		}
	}()
	next := 0
	check := func(msg *data.Message) error {
		var v wrapperspb.BytesValue
		if err := msg.Decode(&v); err != nil {
			return err
		}
		if !bytes.Equal(v.Value, payload(next, 8)) {
			return fmt.Errorf("message %d out of order: %q", next, v.Value)
		}
		next++
		return nil
	}
	stop := errors.New("enough")
	err := cli.RecvFunc(ctx(t), func(msg *data.Message) error {
		if err := check(msg); err != nil {
			return err
		}
		if next == total {
			return stop
		}
		return nil
	})
	if err != stop || next != total {
		t.Fatalf("RecvFunc = %v after %d of %d messages", err, next, total)
	}
	// total is a multiple of half the window: its last message's grant
	// carries the count of all of them.
	if n, err := srv.WaitPeerConsumed(ctx(t), total-1); err != nil || n != total {
		t.Fatalf("the sender saw %d messages consumed (%v), want %d", n, err, total)
	}
	// A second RecvFunc, stopped from outside mid-stream.
	rctx, cancel := context.WithCancel(ctx(t))
	calls := 0
	err = cli.RecvFunc(rctx, func(msg *data.Message) error {
		if calls++; calls == total/2 {
			cancel()
		}
		return check(msg)
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("RecvFunc stopped by its context = %v", err)
	}
	after := calls
	for next < 2*total {
		msg, err := cli.Recv(ctx(t))
		if err != nil {
			t.Fatalf("Recv after RecvFunc, message %d: %v", next, err)
		}
		if err := check(msg); err != nil {
			t.Fatal(err)
		}
	}
	if calls != after {
		t.Fatalf("fn was called %d times after RecvFunc returned", calls-after)
	}
	if st := cli.Stats(); st.ReceivedMessages != 2*total || st.CreditsGranted > window {
		t.Fatalf("stats after the stream: %+v", st)
	}
}
