package iface

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/filter"
	"github.com/ifkit/ifkit/manifest"
)

// Topic publishes each message to every open connection of one interface
// (its subscribers), each through its own credits and its own filter
// (spec/PROTOCOL.md §4.8.6). A subscriber without credit is handled as the
// manifest's flow.on_exhausted says:
//
//   - block: Publish waits for it (and so every later subscriber waits);
//   - drop_newest, drop_oldest: the message is dropped for that subscriber
//     alone and counted in its stats (dropped), the others get it;
//   - error: that subscriber is ended with slow_subscriber and a reason,
//     the others get it.
//
// A message is encoded once per codec (and manifest) among the
// subscribers, and decoded once for all their filters. Publishing with no
// subscribers costs one atomic load. Messages published from one goroutine
// reach each subscriber in order. A Topic is safe for concurrent use.
type Topic struct {
	name string
	mu   sync.Mutex              // orders add and remove
	subs atomic.Pointer[[]*Conn] // copy on write

	published, sent, filteredOut, dropped, ended atomic.Uint64
}

// PublishResult counts what one Publish did.
type PublishResult struct {
	Subscribers int // connections it was offered to
	Sent        int // queued for sending
	FilteredOut int // not selected by the subscriber's filter: never sent
	Dropped     int // dropped for a subscriber without credit (drop_newest; under drop_oldest the message is sent and an older one dropped, counted in the subscriber's stats)
	Ended       int // subscribers ended with slow_subscriber (error)
}

// TopicStats are a topic's counters since it was made: the sums of its
// PublishResults, and the subscribers now.
type TopicStats struct {
	Subscribers                                  int
	Published, Sent, FilteredOut, Dropped, Ended uint64
}

// Topic returns the topic of the named interface, made on first use with
// every open connection of that interface as a subscriber; connections
// that open later subscribe, and those that end leave. The interface need
// not be registered yet. A connection subscribes once the server has
// started it, which can be just after the client's Connect has returned:
// a message published in between does not reach it.
func (s *Server) Topic(name string) *Topic {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.topics[name]; t != nil {
		return t
	}
	t := &Topic{name: name}
	var subs []*Conn
	for _, sc := range s.conns {
		if sc.conn.Manifest().Name == name {
			subs = append(subs, sc.conn)
		}
	}
	t.subs.Store(&subs)
	if s.topics == nil {
		s.topics = map[string]*Topic{}
	}
	s.topics[name] = t
	return t
}

// subscribe adds a connection that has just started to its interface's
// topic, if there is one.
func (s *Server) subscribe(c *Conn) {
	s.mu.Lock()
	t := s.topics[c.Manifest().Name]
	s.mu.Unlock()
	if t != nil {
		t.add(c)
	}
}

// unsubscribe removes an ended connection from its topic.
func (s *Server) unsubscribe(c *Conn) {
	s.mu.Lock()
	t := s.topics[c.Manifest().Name]
	s.mu.Unlock()
	if t != nil {
		t.remove(c)
	}
}

func (t *Topic) add(c *Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.subs.Load()
	if c.Err() != nil {
		return // ended before it subscribed: remove has run already
	}
	subs := append(old[:len(old):len(old)], c)
	t.subs.Store(&subs)
}

func (t *Topic) remove(c *Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.subs.Load()
	subs := make([]*Conn, 0, len(old))
	for _, x := range old {
		if x != c {
			subs = append(subs, x)
		}
	}
	t.subs.Store(&subs)
}

// Subscribers returns the number of open connections subscribed.
func (t *Topic) Subscribers() int { return len(*t.subs.Load()) }

// Stats returns the topic's counters.
func (t *Topic) Stats() TopicStats {
	return TopicStats{
		Subscribers: t.Subscribers(), Published: t.published.Load(), Sent: t.sent.Load(),
		FilteredOut: t.filteredOut.Load(), Dropped: t.dropped.Load(), Ended: t.ended.Load(),
	}
}

// encoding is one message encoded for the subscribers that share a
// manifest and codec.
type encoding struct {
	man   *manifest.Manifest
	codec string
	typ   *manifest.MessageType
	body  []byte
}

// Publish sends v, a message of the named type, to every subscriber whose
// filter selects it. It fails, sending nothing, if v is not a valid
// message of the type; under block it fails with ctx's error if ctx ends
// while a subscriber has no credit (those before it have the message).
func (t *Topic) Publish(ctx context.Context, typeName string, v any) (PublishResult, error) {
	subs := *t.subs.Load()
	if len(subs) == 0 {
		return PublishResult{}, nil
	}
	t.published.Add(1)
	res := PublishResult{Subscribers: len(subs)}
	encs := make([]encoding, 0, 2)
	index := make([]int, len(subs)) // subs[i] is sent encs[index[i]]
	for i, c := range subs {
		k, err := encodeFor(&encs, c, typeName, v)
		if err != nil {
			return PublishResult{}, err
		}
		index[i] = k
	}
	val := filter.NewValue(v)
	var errs []error
	for i, c := range subs {
		e := &encs[index[i]]
		sent, err := c.SendEncoded(ctx, typeName, val, e.body, false)
		switch {
		case err == nil && !sent:
			res.FilteredOut++
		case err == nil:
			res.Sent++
		case errors.Is(err, data.ErrDropped):
			res.Dropped++
		case errors.Is(err, data.ErrNoCredit):
			c.End(localClose(CodeSlowSubscriber, fmt.Sprintf("the subscriber had no credit for a message published on %s (flow.on_exhausted: error ends a slow subscriber)", t.name), nil))
			res.Ended++
		case c.Err() != nil:
			// It ended meanwhile; it leaves the topic.
		default:
			errs = append(errs, fmt.Errorf("ifkit: publish %s to connection %d: %w", typeName, c.ID(), err))
			if ctx.Err() != nil {
				t.count(res)
				return res, errors.Join(errs...)
			}
		}
	}
	t.count(res)
	return res, errors.Join(errs...)
}

func (t *Topic) count(r PublishResult) {
	t.sent.Add(uint64(r.Sent))
	t.filteredOut.Add(uint64(r.FilteredOut))
	t.dropped.Add(uint64(r.Dropped))
	t.ended.Add(uint64(r.Ended))
}

// encodeFor returns the index in encs of v encoded for c, encoding it if
// no subscriber before had c's manifest and codec.
func encodeFor(encs *[]encoding, c *Conn, typeName string, v any) (int, error) {
	m, cd := c.Manifest(), c.Codec()
	for k, e := range *encs {
		if e.man == m && e.codec == cd.Name() {
			return k, nil
		}
	}
	typ, ok := m.Type(typeName)
	if !ok || typ.Direction != manifest.Send {
		return 0, fmt.Errorf("ifkit: publish: %s sends no message type %q", m.Name, typeName)
	}
	body, err := encodeMessage(cd, typ, v)
	if err != nil {
		return 0, fmt.Errorf("ifkit: publish %s: %w", typeName, err)
	}
	if len(body) > m.Flow.MaxMessageBytes {
		return 0, fmt.Errorf("ifkit: publish %s: the message is %d bytes; the manifest allows at most %d (flow.max_message_bytes)", typeName, len(body), m.Flow.MaxMessageBytes)
	}
	*encs = append(*encs, encoding{man: m, codec: cd.Name(), typ: typ, body: body})
	return len(*encs) - 1, nil
}

// encodeMessage encodes v as Send does: JSON text for a protobuf type in
// the proto codec is read as protobuf JSON first.
func encodeMessage(cd codec.Codec, t *manifest.MessageType, v any) ([]byte, error) {
	var text []byte
	switch x := v.(type) {
	case json.RawMessage:
		text = x
	case []byte:
		text = x
	}
	if text != nil && cd.Name() == codec.NameProto && t.Proto != nil {
		msg := t.New()
		if err := protojson.Unmarshal(text, msg); err != nil {
			return nil, fmt.Errorf("the JSON is not a valid %s: %w", t.Proto.FullName(), err)
		}
		v = msg
	}
	return cd.Append(nil, &t.Type, v)
}
