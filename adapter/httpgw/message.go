package httpgw

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// serveMessage answers POST /NAME/TYPE for a type the server receives.
func (g *Gateway) serveMessage(w http.ResponseWriter, r *http.Request, client *iface.Client, e *entry, t *manifest.MessageType) {
	ctx, cancel := g.requestContext(r)
	defer cancel()
	switch {
	case t.Reply != nil && !t.Reply.Stream:
		g.call(ctx, w, r, client, e, t)
	case t.Reply != nil:
		g.callStream(ctx, w, r, client, e, t)
	default:
		g.send(ctx, w, r, client, e, t)
	}
}

// validate answers POST /NAME/TYPE?validate: the value checked as a POST
// would check it before sending (the codec's decoding and the type's
// schema, the same code the server runs), and nothing sent. The answer is
// {"valid":true}, or the error a POST would get, with its JSON pointer.
func (g *Gateway) validate(w http.ResponseWriter, r *http.Request, e *entry, t *manifest.MessageType) {
	body, err := readBody(w, r, bodyLimit(e.m))
	if err == nil {
		_, err = sendValue(t, e.codec(), body, e.m.Flow.MaxMessageBytes)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	writeJSON(w, struct {
		Valid bool `json:"valid"`
	}{true})
}

// readBody reads a body of one JSON value, at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return nil, errorf(codes.MessageTooLarge, "the body is over %d bytes, more than a message of this interface can be (flow.max_message_bytes)", limit)
	}
	if err != nil {
		return nil, errorf(codes.Canceled, "reading the body: %v", err)
	}
	return bytes.TrimSpace(body), nil
}

// call sends a request and answers with its one reply, as JSON.
func (g *Gateway) call(ctx context.Context, w http.ResponseWriter, r *http.Request, client *iface.Client, e *entry, t *manifest.MessageType) {
	body, err := readBody(w, r, bodyLimit(e.m))
	if err != nil {
		writeError(w, err)
		return
	}
	conn, err := e.callConn(ctx, client)
	if err != nil {
		writeError(w, err)
		return
	}
	clean := false
	defer func() { e.release(conn, clean) }()
	v, err := sendValue(t, conn.Codec().Name(), body, conn.Manifest().Flow.MaxMessageBytes)
	if err != nil {
		clean = true
		writeError(w, err)
		return
	}
	if g.o.callTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.o.callTimeout)
		defer cancel()
	}
	reply, err := conn.Call(ctx, t.Name, v)
	var re *codes.RemoteError
	clean = err == nil || errors.As(err, &re) // a refusal ends the call cleanly
	if errors.Is(err, context.DeadlineExceeded) {
		err = errorf(codes.Canceled, "%s got no reply within %s (the gateway's call timeout)", t.Name, g.o.callTimeout)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	value, err := reply.JSON()
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("Ifkit-Type", reply.Type.Name)
	w.Write(append(value, '\n'))
}

// callStream sends a request on a connection of its own, in pull mode,
// and writes its replies as they come, granting a credit for each one
// written.
func (g *Gateway) callStream(ctx context.Context, w http.ResponseWriter, r *http.Request, client *iface.Client, e *entry, t *manifest.MessageType) {
	body, err := readBody(w, r, bodyLimit(e.m))
	if err != nil {
		writeError(w, err)
		return
	}
	window := g.window(r, e.m)
	// Messages that answer no call are dropped, and their credit given
	// back, so that they never starve the replies.
	conn, err := e.connect(ctx, client, iface.WithPullMode(), iface.WithCredits(window),
		iface.WithCatchAll(func(_ context.Context, m *iface.Message) error { m.Conn().Request(1); return nil }))
	if err != nil {
		writeError(w, err)
		return
	}
	out := newStreamWriter(w, r, g.o.writeTimeout)
	reason := "ifkit gateway: the reply stream ended"
	defer func() { conn.Close(reason) }()
	v, err := sendValue(t, conn.Codec().Name(), body, conn.Manifest().Flow.MaxMessageBytes)
	if err != nil {
		writeError(w, err)
		return
	}
	conn.Request(window)
	rs, err := conn.CallStream(ctx, t.Name, v)
	if err != nil {
		writeError(w, err)
		return
	}
	defer rs.Close()
	_, err = pump(ctx, conn, window, rs.Recv, out, 0)
	reason = g.ended(ctx, out, err)
}

// window is the credit window of a stream: the gateway's, or fewer if the
// request asks (?credits=N), and never more than the interface's.
func (g *Gateway) window(r *http.Request, m *manifest.Manifest) int {
	n := g.o.credits
	var asked int
	if _, err := fmt.Sscan(r.URL.Query().Get("credits"), &asked); err == nil && asked > 0 {
		n = asked
	}
	return max(1, min(n, m.Flow.Credits))
}

// sendResult is the answer to a POST of one-way messages.
type sendResult struct {
	Sent    int        `json:"sent"`
	Refused []*refusal `json:"refused,omitempty"`
}

// refusal is one message the server refused after taking it.
type refusal struct {
	Line   int        `json:"line"`
	Code   codes.Code `json:"code"`
	Reason string     `json:"reason"`
}

// send sends one JSON value, or NDJSON lines each as it is read, on a
// connection of its own, and answers with how many were sent. The next line
// is read only once the previous one was sent, so that a server without
// credit for more holds back the HTTP client (block policy), or the POST
// fails at that line (error and drop_newest policies). Refusals the server
// sends before it has closed the connection are reported.
func (g *Gateway) send(ctx context.Context, w http.ResponseWriter, r *http.Request, client *iface.Client, e *entry, t *manifest.MessageType) {
	var mu sync.Mutex
	var refusals []*codes.RemoteError
	conn, err := e.connect(ctx, client,
		iface.WithCatchAll(func(context.Context, *iface.Message) error { return nil }),
		iface.WithOnRefused(func(_ *iface.Conn, re *iface.RemoteError) {
			mu.Lock()
			refusals = append(refusals, re)
			mu.Unlock()
		}))
	if err != nil {
		writeError(w, err)
		return
	}
	max := conn.Manifest().Flow.MaxMessageBytes
	limit := bodyLimit(conn.Manifest())
	sent, lines := 0, []int{}
	fail := func(line int, err error) {
		if line > 0 {
			conn.Close(fmt.Sprintf("ifkit gateway: the HTTP POST failed at line %d", line))
		} else {
			conn.Close("ifkit gateway: the HTTP POST's message failed")
		}
		ge := *toError(err)
		if line > 0 {
			ge.Line, ge.Sent = line, &sent
		}
		writeError(w, &ge)
	}
	sendOne := func(line int, data []byte) error {
		v, err := sendValue(t, conn.Codec().Name(), data, max)
		if err == nil {
			err = conn.Send(ctx, t.Name, v)
		}
		if err != nil {
			return err
		}
		sent++
		lines = append(lines, line)
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == mediaNDJSON || mt == "application/jsonl" || mt == "application/json-seq" {
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(make([]byte, 0, min(64<<10, limit)), int(limit))
		line := 0
		for sc.Scan() {
			line++
			data := bytes.TrimSpace(sc.Bytes())
			if len(data) == 0 {
				continue
			}
			if err := sendOne(line, data); err != nil {
				fail(line, err)
				return
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				err = errorf(codes.MessageTooLarge, "the line is over %d bytes, more than a message of this interface can be (flow.max_message_bytes)", limit)
			} else {
				err = errorf(codes.Canceled, "reading the body: %v", err)
			}
			fail(line+1, err)
			return
		}
	} else {
		body, err := readBody(w, r, limit)
		if err == nil {
			err = sendOne(1, body)
		}
		if err != nil {
			fail(0, err)
			return
		}
	}
	// Close sends what is queued and waits for the server to close its
	// side, by when it has said which messages it refused.
	conn.Close(fmt.Sprintf("ifkit gateway: sent %d message(s) from an HTTP POST", sent))
	res := sendResult{Sent: sent}
	mu.Lock()
	for _, re := range refusals {
		line := 0
		if re.Seq >= 1 && int(re.Seq) <= len(lines) {
			line = lines[re.Seq-1]
		}
		res.Refused = append(res.Refused, &refusal{Line: line, Code: re.Code, Reason: re.Reason})
	}
	mu.Unlock()
	w.Header().Set("Content-Type", mediaJSON)
	if len(res.Refused) > 0 {
		first := res.Refused[0]
		ge := errorf(first.Code, "the server refused %d of the %d message(s); the first, at line %d: %s", len(res.Refused), sent, first.Line, first.Reason)
		ge.Line, ge.Sent = first.Line, &sent
		w.WriteHeader(ge.Status)
		writeJSON(w, struct {
			Error   *Error     `json:"error"`
			Refused []*refusal `json:"refused"`
		}{ge, res.Refused})
		return
	}
	writeJSON(w, res)
}
