package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// consumeIface is one consume entry: a durable pull consumer served as a
// send interface.
type consumeIface struct {
	a *Adapter
	e Consume
	m *manifest.Manifest

	resets atomic.Uint64 // resets so far: a fetch that fails across one is retried

	mu       sync.Mutex
	sessions map[*iface.Conn]*session
}

func (ci *consumeIface) iface() iface.Interface {
	return iface.Interface{
		Manifest:  ci.m,
		OnConnect: ci.serve,
		OnReset:   ci.reset,
	}
}

func (ci *consumeIface) ensureConsumer(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	_, err := ci.a.js.Consumer(ctx, ci.e.Stream, ci.e.Consumer)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("adapter/nats: consumer %s of stream %s: %w", ci.e.Consumer, ci.e.Stream, err)
	}
	_, err = ci.a.js.CreateConsumer(ctx, ci.e.Stream, jetstream.ConsumerConfig{
		Durable:       ci.e.Consumer,
		Description:   "ifkit interface " + ci.e.Interface,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ci.e.AckWait.or(DefaultAckWait),
		FilterSubject: ci.e.FilterSubject,
	})
	if err != nil && !errors.Is(err, jetstream.ErrConsumerExists) {
		return fmt.Errorf("adapter/nats: creating consumer %s of stream %s: %w", ci.e.Consumer, ci.e.Stream, err)
	}
	return nil
}

// session is one connection's state: the messages sent to its client and
// not yet acknowledged, in the order of their ifkit sequence numbers.
type session struct {
	mu      sync.Mutex
	pending []pendingMsg
	sent    uint64 // messages sent on the connection so far (the last one's Seq)
}

type pendingMsg struct {
	seq uint64 // the ifkit message's sequence number on its connection
	msg jetstream.Msg
}

// take removes and returns the pending messages with seq <= through.
func (s *session) take(through uint64) []jetstream.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	for i < len(s.pending) && s.pending[i].seq <= through {
		i++
	}
	out := make([]jetstream.Msg, i)
	for k := range i {
		out[k] = s.pending[k].msg
	}
	s.pending = append(s.pending[:0], s.pending[i:]...)
	return out
}

// drop removes every pending message and returns them.
func (s *session) drop() []jetstream.Msg { return s.take(^uint64(0)) }

func (s *session) held() []jetstream.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]jetstream.Msg, len(s.pending))
	for i, p := range s.pending {
		out[i] = p.msg
	}
	return out
}

// serve runs one connection: it fetches only as much as the client has
// credit for, and acknowledges each message once the client's grants say
// it has consumed it. Messages still unconsumed when the connection ends
// are handed back to JetStream (nak) to be delivered again.
func (ci *consumeIface) serve(ctx context.Context, c *iface.Conn) {
	s := &session{}
	ci.mu.Lock()
	ci.sessions[c] = s
	ci.mu.Unlock()
	defer func() {
		ci.mu.Lock()
		delete(ci.sessions, c)
		ci.mu.Unlock()
	}()
	acks := make(chan struct{})
	go func() {
		defer close(acks)
		ci.ackLoop(ctx, c, s)
	}()
	if err := ci.fetchLoop(ctx, c, s); err != nil {
		c.End(err)
	}
	<-acks
	// The client's last grant may have come after the loop stopped.
	ci.ack(s.take(c.PeerConsumed()))
	for _, m := range s.drop() {
		m.Nak()
		ci.a.st.nacked.Add(1)
	}
}

// ackLoop acknowledges what the client has consumed as its grants report
// it, and tells JetStream the messages it still holds are in progress
// every half ack wait, so they are not delivered to another connection
// meanwhile.
func (ci *consumeIface) ackLoop(ctx context.Context, c *iface.Conn, s *session) {
	renew := ci.e.AckWait.or(DefaultAckWait) / 2
	var seen uint64
	for {
		wctx, cancel := context.WithTimeout(ctx, renew)
		n, err := c.WaitPeerConsumed(wctx, seen)
		cancel()
		if n > seen {
			seen = n
			ci.ack(s.take(n))
		}
		switch {
		case err == nil:
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			for _, m := range s.held() {
				m.InProgress()
			}
		default:
			return // the connection ended
		}
	}
}

func (ci *consumeIface) ack(ms []jetstream.Msg) {
	for _, m := range ms {
		if err := m.Ack(); err == nil {
			ci.a.st.acked.Add(1)
		}
		// An ack that fails (JetStream away) leaves the message to be
		// delivered again: at least once.
	}
}

// fetchLoop sends the consumer's messages as the client's credit allows,
// until the connection ends (nil) or JetStream fails it (the reason).
func (ci *consumeIface) fetchLoop(ctx context.Context, c *iface.Conn, s *session) *codes.CloseError {
	wait := ci.e.FetchWait.or(DefaultFetchWait)
	typeName := ci.e.Type
	var downSince time.Time // when JetStream stopped answering, zero while it answers
	backoff := retryBackoff
	var cons jetstream.Consumer
	for {
		room, err := c.WaitCredit(ctx)
		if err != nil {
			return nil
		}
		resets := ci.resets.Load()
		if cons == nil { // first, and again after a failure
			cons, err = ci.a.js.Consumer(ctx, ci.e.Stream, ci.e.Consumer)
		}
		var batch jetstream.MessageBatch
		if err == nil {
			fctx, cancel := context.WithTimeout(ctx, wait)
			batch, err = cons.Fetch(room, jetstream.FetchContext(fctx))
			if err == nil {
				err = ci.sendBatch(ctx, c, s, typeName, batch)
				if err == nil {
					err = batch.Error()
				}
			}
			cancel()
		}
		if err != nil {
			cons = nil
		}
		switch {
		case err == nil, errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && batch != nil:
			downSince, backoff = time.Time{}, retryBackoff
			continue // the fetch waited out fetch_wait: ask again
		case ctx.Err() != nil || c.Err() != nil:
			return nil
		case errors.Is(err, errConnEnded):
			return nil
		case ci.resets.Load() != resets:
			continue // the consumer was reset under the fetch
		case !transient(err):
			return &codes.CloseError{Code: CodeOf(err), Reason: fmt.Sprintf("JetStream consumer %s of stream %s: %v", ci.e.Consumer, ci.e.Stream, err)}
		}
		if downSince.IsZero() {
			downSince = time.Now()
			ci.a.o.log.Warn("adapter/nats: JetStream is not answering; waiting for it", "interface", ci.e.Interface, "err", err)
		}
		if time.Since(downSince) > ci.a.o.outage {
			return &codes.CloseError{Code: codes.TransportError, Reason: fmt.Sprintf("JetStream has not answered for %v (consumer %s of stream %s): %v", ci.a.o.outage, ci.e.Consumer, ci.e.Stream, err)}
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxRetryBackoff)
	}
}

// errConnEnded: a send failed because the connection ended.
var errConnEnded = errors.New("the connection ended")

// sendBatch sends each message of batch. A message that fails its type is
// terminated (never sent, never delivered again); once a send fails
// because the connection ended, the rest are handed back.
func (ci *consumeIface) sendBatch(ctx context.Context, c *iface.Conn, s *session, typeName string, batch jetstream.MessageBatch) error {
	var ended error
	for m := range batch.Messages() {
		if ended != nil {
			m.Nak()
			ci.a.st.nacked.Add(1)
			continue
		}
		v, err := delivery(m)
		if err == nil {
			s.mu.Lock()
			seq := s.sent + 1
			s.pending = append(s.pending, pendingMsg{seq: seq, msg: m})
			s.mu.Unlock()
			err = c.Send(ctx, typeName, v)
			s.mu.Lock()
			if err == nil {
				s.sent = seq
			} else {
				s.pending = s.pending[:len(s.pending)-1]
			}
			s.mu.Unlock()
			if err == nil {
				ci.a.st.delivered.Add(1)
				continue
			}
		}
		var ce *codec.Error
		if errors.As(err, &ce) || errors.Is(err, errNotJSON) || c.Err() == nil && !errors.Is(err, context.Canceled) {
			meta, _ := m.Metadata()
			ci.a.o.log.Warn("adapter/nats: a stored message fails its type; terminated", "interface", ci.e.Interface, "stream_seq", seqOf(meta), "err", err)
			m.Term()
			ci.a.st.terminated.Add(1)
			continue
		}
		m.Nak()
		ci.a.st.nacked.Add(1)
		ended = errConnEnded
	}
	return ended
}

func seqOf(meta *jetstream.MsgMetadata) uint64 {
	if meta == nil {
		return 0
	}
	return meta.Sequence.Stream
}

var errNotJSON = errors.New("the stored message is not JSON")

// delivery is the value sent for m.
func delivery(m jetstream.Msg) (json.RawMessage, error) {
	meta, err := m.Metadata()
	if err != nil {
		return nil, err
	}
	if !json.Valid(m.Data()) {
		return nil, errNotJSON
	}
	return json.Marshal(Delivery{
		Seq:       meta.Sequence.Stream,
		Subject:   m.Subject(),
		Time:      meta.Timestamp.UTC().Format(time.RFC3339Nano),
		Delivered: meta.NumDelivered,
		Data:      m.Data(),
	})
}

// reset serves the control operation reset: it moves the durable consumer
// (shared by every connection to the interface) to a position, and hands
// back what the connections hold unconsumed (it is delivered again from the
// new position if it lies after it).
//
//	seq:N, N       deliver from stream sequence N on
//	time:RFC3339   from the first message stored at or after that time
//	first          from the stream's first message
//	last           from its last message
//	new            only messages stored from now on
func (ci *consumeIface) reset(ctx context.Context, _ *iface.Conn, position string) error {
	seq, err := ci.position(ctx, position)
	if err != nil {
		return err
	}
	ci.resets.Add(1) // before: a fetch that the reset fails sees it
	if _, err := ci.a.js.ResetConsumerToSequence(ctx, ci.e.Stream, ci.e.Consumer, seq); err != nil {
		return resetError(CodeOf(err), fmt.Sprintf("JetStream did not reset consumer %s to stream sequence %d: %v", ci.e.Consumer, seq, err))
	}
	ci.mu.Lock()
	defer ci.mu.Unlock()
	for _, s := range ci.sessions {
		for _, m := range s.drop() {
			m.Nak()
			ci.a.st.nacked.Add(1)
		}
	}
	return nil
}

// position turns a reset position into a stream sequence.
func (ci *consumeIface) position(ctx context.Context, position string) (uint64, error) {
	bad := func(format string, args ...any) error {
		return resetError(codes.InvalidMessage, fmt.Sprintf(format, args...)+`; give seq:N, time:RFC3339 (e.g. time:2026-12-01T09:30:00Z), first, last or new`)
	}
	p := strings.TrimSpace(position)
	switch {
	case p == "first" || p == "last" || p == "new":
		st, err := ci.a.js.Stream(ctx, ci.e.Stream)
		if err != nil {
			return 0, resetError(CodeOf(err), fmt.Sprintf("stream %s: %v", ci.e.Stream, err))
		}
		state := st.CachedInfo().State
		switch p {
		case "first":
			return max(state.FirstSeq, 1), nil
		case "last":
			return max(state.LastSeq, 1), nil
		}
		return state.LastSeq + 1, nil
	case strings.HasPrefix(p, "time:"):
		t, err := time.Parse(time.RFC3339Nano, p[len("time:"):])
		if err != nil {
			return 0, bad("reset position %q: the time is not RFC 3339", position)
		}
		return ci.seqAt(ctx, t)
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(p, "seq:"), 10, 64)
	if err != nil || n == 0 {
		return 0, bad("reset position %q is not a stream sequence (1 or more)", position)
	}
	return n, nil
}

// seqAt returns the sequence of the first message stored at or after t
// (the one after the last if none is).
func (ci *consumeIface) seqAt(ctx context.Context, t time.Time) (uint64, error) {
	st, err := ci.a.js.Stream(ctx, ci.e.Stream)
	if err != nil {
		return 0, resetError(CodeOf(err), fmt.Sprintf("stream %s: %v", ci.e.Stream, err))
	}
	oc, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &t})
	if err != nil {
		return 0, resetError(CodeOf(err), fmt.Sprintf("stream %s: %v", ci.e.Stream, err))
	}
	last := st.CachedInfo().State.LastSeq
	if last == 0 {
		return 1, nil
	}
	m, err := oc.Next(jetstream.FetchMaxWait(seekWait))
	if err != nil {
		return last + 1, nil // nothing stored since t
	}
	meta, err := m.Metadata()
	if err != nil {
		return 0, err
	}
	return meta.Sequence.Stream, nil
}
