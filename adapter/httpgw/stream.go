package httpgw

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/iface"
)

// streamWriter writes the messages of a stream to the HTTP client, in one
// of the stream formats, flushing each.
type streamWriter interface {
	// start writes the response's head, if it is not written yet.
	start() error
	// message writes one message.
	message(Record) error
	// end ends the stream: normally (nil), or with the error that ended it.
	// Before start, an error is answered as an HTTP error.
	end(error)
}

// errClient marks a failure to write to the HTTP client, to tell it from
// the end of the ifkit side.
type errClient struct{ err error }

func (e errClient) Error() string { return "writing to the HTTP client: " + e.err.Error() }
func (e errClient) Unwrap() error { return e.err }

// newStreamWriter picks the format the request asks for: Server-Sent
// Events for Accept: text/event-stream (or ?format=sse), NDJSON otherwise.
func newStreamWriter(w http.ResponseWriter, r *http.Request, timeout time.Duration) streamWriter {
	rc := http.NewResponseController(w)
	f := r.URL.Query().Get("format")
	if f == "sse" || (f == "" && strings.Contains(r.Header.Get("Accept"), mediaSSE)) {
		return &sseWriter{httpWriter{w: w, rc: rc, timeout: timeout, media: mediaSSE}}
	}
	return &ndjsonWriter{httpWriter{w: w, rc: rc, timeout: timeout, media: mediaNDJSON}}
}

// httpWriter is what the NDJSON and SSE writers share: a response written
// and flushed piece by piece, each write bounded by timeout.
type httpWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	media   string
	started bool
	buf     bytes.Buffer
}

func (h *httpWriter) start() error {
	if h.started {
		return nil
	}
	h.started = true
	hd := h.w.Header()
	hd.Set("Content-Type", h.media)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.w.WriteHeader(http.StatusOK)
	return h.flush()
}

// flush writes what buf holds and flushes it to the client.
func (h *httpWriter) flush() error {
	if h.timeout > 0 {
		h.rc.SetWriteDeadline(time.Now().Add(h.timeout)) // not every ResponseWriter can; then there is no bound
	}
	if h.buf.Len() > 0 {
		_, err := h.w.Write(h.buf.Bytes())
		h.buf.Reset()
		if err != nil {
			return errClient{err}
		}
	}
	if err := h.rc.Flush(); err != nil {
		return errClient{err}
	}
	return nil
}

// eventWriter is a stream writer that also writes named events of any
// JSON value (GET /_events).
type eventWriter interface {
	streamWriter
	event(name string, v any) error
}

var _, _ eventWriter = (*ndjsonWriter)(nil), (*sseWriter)(nil)

type ndjsonWriter struct{ httpWriter }

func (n *ndjsonWriter) event(_ string, v any) error {
	if err := n.start(); err != nil {
		return err
	}
	writeJSON(&n.buf, v)
	return n.flush()
}

func (n *ndjsonWriter) message(rec Record) error {
	if err := n.start(); err != nil {
		return err
	}
	writeJSON(&n.buf, rec)
	return n.flush()
}

// end writes an error as a last line {"error":{...}}; a normal end is the
// end of the body.
func (n *ndjsonWriter) end(err error) {
	if err == nil {
		n.start()
		return
	}
	if !n.started {
		writeError(n.w, err)
		return
	}
	writeJSON(&n.buf, errorBody{toError(err)})
	n.flush()
}

// sseWriter writes Server-Sent Events: one per message, with the type as
// the event name, the sequence number as the id and the value as the data;
// then an "end" event (so that an EventSource does not reconnect) or an
// "error" event whose data is the error.
type sseWriter struct{ httpWriter }

func (s *sseWriter) message(rec Record) error {
	if err := s.start(); err != nil {
		return err
	}
	fmt.Fprintf(&s.buf, "id: %d\nevent: %s\ndata: %s\n\n", rec.Seq, rec.Type, rec.Value)
	return s.flush()
}

func (s *sseWriter) event(name string, v any) error {
	if err := s.start(); err != nil {
		return err
	}
	fmt.Fprintf(&s.buf, "event: %s\ndata: ", name)
	writeJSON(&s.buf, v) // ends with a newline
	s.buf.WriteString("\n")
	return s.flush()
}

func (s *sseWriter) end(err error) {
	if err != nil && !s.started {
		writeError(s.w, err)
		return
	}
	s.start()
	if err == nil {
		s.buf.WriteString("event: end\ndata: {}\n\n")
	} else {
		s.buf.WriteString("event: error\ndata: ")
		writeJSON(&s.buf, errorBody{toError(err)}) // ends with a newline
		s.buf.WriteString("\n")
	}
	s.flush()
}

// wsWriter writes each message as a text message; the end is the close
// frame: 1000 for a normal end, 1011 with the ifkit code otherwise.
type wsWriter struct {
	ctx       context.Context
	ws        *websocket.Conn
	timeout   time.Duration
	delivered atomic.Uint64 // messages written
}

func (s *wsWriter) start() error { return nil }

func (s *wsWriter) message(rec Record) error {
	data, _ := json.Marshal(rec)
	if err := s.write(data); err != nil {
		return err
	}
	s.delivered.Add(1)
	return nil
}

func (s *wsWriter) write(data []byte) error {
	ctx := s.ctx
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	if err := s.ws.Write(ctx, websocket.MessageText, data); err != nil {
		return errClient{err}
	}
	return nil
}

func (s *wsWriter) end(err error) {
	if err == nil {
		s.ws.Close(websocket.StatusNormalClosure, "")
		return
	}
	e := toError(err)
	data, _ := json.Marshal(errorBody{e})
	s.write(data)
	reason := e.Code.String()
	if len(e.Message) > 0 {
		reason += ": " + e.Message
	}
	if len(reason) > 120 { // a close frame's reason is at most 123 bytes
		reason = reason[:120]
	}
	s.ws.Close(websocket.StatusInternalError, reason)
}

// pump moves messages from next to out, giving conn back one credit for
// each message written (the connection is in pull mode, with its window
// requested already), until limit messages (0: no limit) or an error:
// next's (io.EOF at the end of a reply stream, the connection's end) or
// out's (an errClient). Credits go back in batches of half the window, so
// that the server is never more than a window ahead of the HTTP client
// and a CREDIT frame is not written for every message.
func pump(ctx context.Context, conn *iface.Conn, window int, next func(context.Context) (*iface.Message, error), out streamWriter, limit int) (int, error) {
	n, taken := 0, 0
	batch := max(1, window/2)
	for limit == 0 || n < limit {
		msg, err := next(ctx)
		if err != nil {
			return n, err
		}
		value, err := msg.JSON()
		if err != nil {
			return n, fmt.Errorf("decoding message %d (%s): %w", msg.Seq, msg.Type.Name, err)
		}
		if err := out.message(Record{Seq: msg.Seq, Type: msg.Type.Name, Value: value}); err != nil {
			return n, err
		}
		n++
		if taken++; taken >= batch {
			conn.Request(taken)
			taken = 0
		}
	}
	return n, nil
}

// ended finishes a stream that pump returned from with err, and returns
// the reason to close its ifkit connection with.
func (g *Gateway) ended(ctx context.Context, out streamWriter, err error) string {
	var ce *codes.CloseError
	var ec errClient
	switch {
	case err == nil:
		out.end(nil)
		return "ifkit gateway: the HTTP client has what it asked for"
	case errors.Is(err, io.EOF):
		out.end(nil)
		return "ifkit gateway: the reply stream ended"
	case errors.As(err, &ec):
		return "ifkit gateway: the HTTP client stopped reading: " + ec.err.Error()
	case g.ctx.Err() != nil:
		out.end(errorf(codes.Draining, "the gateway is closing"))
		return "ifkit gateway: closing"
	case ctx.Err() != nil:
		return "ifkit gateway: the HTTP client went away"
	case errors.As(err, &ce) && ce.Code == codes.NormalClose:
		out.end(nil) // the server ended the stream
		return "ifkit gateway: the server closed the stream"
	}
	out.end(err)
	return "ifkit gateway: " + err.Error()
}

// serveStream answers GET /NAME/stream: what the server sends, on a
// connection of the request's own in pull mode, as NDJSON, SSE or a
// WebSocket.
func (g *Gateway) serveStream(w http.ResponseWriter, r *http.Request, client *iface.Client, e *entry) {
	ctx, cancel := g.requestContext(r)
	defer cancel()
	isWS := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	switch {
	case isWS && len(pushed(e.m)) == 0 && len(oneWay(e.m)) == 0:
		writeError(w, errorf(codes.WrongDirection, "%s has no stream: its server sends only replies, and takes only requests; POST them to %s", e.m.Name, g.link(e.m.Name, "TYPE")))
		return
	case !isWS && len(pushed(e.m)) == 0 && !e.m.Direction.Sends():
		writeError(w, errorf(codes.WrongDirection, "%s only receives: POST to %s, or open a WebSocket on this route to send it messages", e.m.Name, g.link(e.m.Name, "TYPE")))
		return
	case !isWS && len(pushed(e.m)) == 0:
		writeError(w, errorf(codes.WrongDirection, "%s sends only replies: POST a request to %s and read its reply there", e.m.Name, g.link(e.m.Name, "TYPE")))
		return
	}
	limit := 0
	if s := r.URL.Query().Get("n"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, errorf(codes.InvalidMessage, "n=%q: give a count of messages >= 0", s))
			return
		}
		limit = n
	}
	window := g.window(r, e.m)
	opts := []iface.ConnectOption{iface.WithPullMode(), iface.WithCredits(window)}
	q := r.URL.Query()
	if f := (iface.Filter{Type: q.Get("filter_type"), CEL: q.Get("filter")}); f != (iface.Filter{}) {
		opts = append(opts, iface.WithFilter(f))
	}
	conn, err := e.connect(ctx, client, opts...)
	if err != nil {
		writeError(w, err)
		return
	}
	reason := "ifkit gateway: the stream ended"
	defer func() { conn.Close(reason) }()
	if isWS {
		reason = g.serveWebSocket(ctx, w, r, client, conn, window, limit)
		return
	}
	out := newStreamWriter(w, r, g.o.writeTimeout)
	if err := out.start(); err != nil {
		reason = "ifkit gateway: the HTTP client went away"
		return
	}
	conn.Request(window)
	_, err = pump(ctx, conn, window, conn.Recv, out, limit)
	reason = g.ended(ctx, out, err)
}

// wsIn is a message a WebSocket client sends: {"type","value"} to the
// server, or {"control": OP, ...} for the stream's own connection (see
// wsControl).
type wsIn struct {
	Type       string          `json:"type"`
	Value      json.RawMessage `json:"value"`
	Control    string          `json:"control"`
	Filter     string          `json:"filter"`
	FilterType string          `json:"filter_type"`
}

// serveWebSocket runs a WebSocket over conn: what the server sends goes
// out as text messages (credits following the client's reading, as on the
// other formats), and the client's text messages {"type","value"} are sent
// to the server, the next read only once the previous one was sent; its
// {"control": OP} messages act on conn (stats, pause, resume, filter).
func (g *Gateway) serveWebSocket(ctx context.Context, w http.ResponseWriter, r *http.Request, client *iface.Client, conn *iface.Conn, window, limit int) string {
	// Without WithCORS, only same-origin pages may open one (the library's
	// default check of Origin against Host).
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: g.originPatterns()})
	if err != nil {
		return "ifkit gateway: the WebSocket handshake failed: " + err.Error()
	}
	defer ws.CloseNow()
	m := conn.Manifest()
	ws.SetReadLimit(bodyLimit(m) + 1024)
	out := &wsWriter{ctx: ctx, ws: ws, timeout: g.o.writeTimeout}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	readErr := make(chan error, 1)
	// Owned here: cancel stops it, and it is waited for below.
	go func() {
		err := g.wsRead(ctx, ws, &wsStream{client: client, conn: conn, out: out, window: window})
		cancel()
		readErr <- err
	}()
	if len(pushed(m)) == 0 {
		return g.wsEnded(ctx, out, <-readErr)
	}
	conn.Request(window)
	_, err = pump(ctx, conn, window, conn.Recv, out, limit)
	if errors.Is(err, context.Canceled) { // by the reader's end, or the request's
		if rerr := <-readErr; rerr != nil {
			err = rerr
		}
		return g.wsEnded(ctx, out, err)
	}
	// The close frame first, while the reader still reads (it then sees the
	// client's answer); cancelling its Read would drop the connection.
	reason := g.wsEnded(ctx, out, err)
	cancel()
	<-readErr
	return reason
}

// wsEnded ends a WebSocket as ended ends the other formats.
func (g *Gateway) wsEnded(ctx context.Context, out *wsWriter, err error) string {
	if cs := websocket.CloseStatus(err); cs == websocket.StatusNormalClosure || cs == websocket.StatusGoingAway {
		return "ifkit gateway: the WebSocket client closed"
	}
	return g.ended(ctx, out, err)
}

// wsStream is what the reader of one WebSocket acts on: its connection,
// and the control stream attached to it, opened on the first {"control"}
// message.
type wsStream struct {
	client *iface.Client
	conn   *iface.Conn
	out    *wsWriter
	window int
	ctl    *control.Client
}

// wsRead sends the client's messages to the server until the WebSocket or
// ctx ends. A message that is not {"type","value"} of a type the client may
// send, or whose value fails the type, is answered with an error message and
// skipped; a {"control"} message is answered by wsControl.
func (g *Gateway) wsRead(ctx context.Context, ws *websocket.Conn, s *wsStream) error {
	defer func() {
		if s.ctl != nil {
			s.ctl.Close()
		}
	}()
	conn, out := s.conn, s.out
	m := conn.Manifest()
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != -1 {
				return err
			}
			return errClient{err}
		}
		var in wsIn
		if typ == websocket.MessageText && json.Unmarshal(data, &in) == nil && in.Control != "" {
			out.write(g.wsControl(ctx, s, in))
			continue
		}
		if typ != websocket.MessageText || json.Unmarshal(data, &in) != nil || in.Type == "" {
			out.write(errJSON(errorf(codes.InvalidMessage, `send text messages {"type": T, "value": V}; T is one of %s (or {"control": "stats"}, "pause", "resume", "filter")`, typeNames(oneWay(m)))))
			continue
		}
		t, ok := m.Type(in.Type)
		switch {
		case !ok:
			err = errorf(codes.UnknownType, "%s has no message type %q", m.Name, in.Type)
		case t.Direction != "recv":
			err = errorf(codes.WrongDirection, "%s is sent by the server, not by clients", in.Type)
		case t.Reply != nil:
			err = errorf(codes.WrongDirection, "%s is a request: POST it to %s", in.Type, "/"+m.Name+"/"+in.Type)
		default:
			var v any
			if v, err = sendValue(t, conn.Codec().Name(), in.Value, m.Flow.MaxMessageBytes); err == nil {
				err = conn.Send(ctx, t.Name, v)
				if ctx.Err() != nil || conn.Err() != nil {
					return err
				}
			}
		}
		if err != nil {
			out.write(errJSON(err))
		}
	}
}

// StreamStats is the answer to {"control":"stats"} on a WebSocket stream:
// the server's counters of the stream's connection (the field names of
// spec/PROTOCOL.md's ConnStats) and the gateway's side of its credit
// window. Messages in flight, sent by the server and not yet written to
// the WebSocket, are SentMessages - Delivered.
type StreamStats struct {
	ConnectionID     uint64 `json:"connection_id"`
	SentMessages     uint64 `json:"sent_messages"`
	ReceivedMessages uint64 `json:"received_messages"`
	Refused          uint64 `json:"refused"`
	Dropped          uint64 `json:"dropped"`
	CreditsHeld      int64  `json:"credits_held"`    // credit the server holds: it may send this many more
	CreditsGranted   int64  `json:"credits_granted"` // credit the server gave the gateway
	Queued           uint64 `json:"queued"`          // messages the server holds, waiting for credit
	Paused           bool   `json:"paused"`
	UptimeMs         int64  `json:"uptime_ms"`
	Matched          uint64 `json:"matched"`
	FilteredOut      uint64 `json:"filtered_out"`
	Window           int    `json:"window"`    // the gateway's credit window for the stream
	Delivered        uint64 `json:"delivered"` // messages written to the WebSocket
}

// wsControlReply answers a {"control"} message: {"control": OP, "ok":
// true}, with "stats" for stats, or with "error".
type wsControlReply struct {
	Control string       `json:"control"`
	OK      bool         `json:"ok"`
	Stats   *StreamStats `json:"stats,omitempty"`
	Error   *Error       `json:"error,omitempty"`
}

// wsControl runs one control operation on the stream's connection, through
// a control stream attached to it: stats, pause and resume (spec
// §10.2), and filter, which replaces the connection's filter by
// {"filter": CEL, "filter_type": T} (an empty filter removes it; one that
// does not compile is refused with invalid_filter and its position, and
// the old one stays).
func (g *Gateway) wsControl(ctx context.Context, s *wsStream, in wsIn) []byte {
	reply := wsControlReply{Control: in.Control}
	err := g.wsDoControl(ctx, s, in, &reply)
	if err != nil {
		reply.Error = toError(err)
	} else {
		reply.OK = true
	}
	data, _ := json.Marshal(reply)
	return data
}

func (g *Gateway) wsDoControl(ctx context.Context, s *wsStream, in wsIn, reply *wsControlReply) error {
	m := s.conn.Manifest()
	switch in.Control {
	case "stats", "pause", "resume", "filter":
	default:
		return errorf(codes.Unimplemented, "no control operation %q on a stream: use stats, pause, resume or filter", in.Control)
	}
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	if s.ctl == nil {
		ctl, err := s.client.Control(ctx, m.Name, iface.AttachTo(s.conn))
		if err != nil {
			return err
		}
		s.ctl = ctl
	}
	switch in.Control {
	case "stats":
		st, err := s.ctl.Stats(ctx)
		if err != nil {
			return err
		}
		reply.Stats = &StreamStats{
			ConnectionID: st.ConnectionID, SentMessages: st.SentMessages, ReceivedMessages: st.ReceivedMessages,
			Refused: st.Refused, Dropped: st.Dropped, CreditsHeld: st.CreditsHeld, CreditsGranted: st.CreditsGranted,
			Queued: st.Queued, Paused: st.Paused, UptimeMs: st.Uptime.Milliseconds(),
			Matched: st.Matched, FilteredOut: st.FilteredOut,
			Window: s.window, Delivered: s.out.delivered.Load(),
		}
		return nil
	case "pause":
		return s.ctl.Pause(ctx)
	case "resume":
		return s.ctl.Resume(ctx)
	}
	return s.ctl.SetFilter(ctx, control.Filter{Type: in.FilterType, CEL: in.Filter})
}

func errJSON(err error) []byte {
	data, _ := json.Marshal(errorBody{toError(err)})
	return data
}
