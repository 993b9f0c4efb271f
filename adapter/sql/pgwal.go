package dbadapter

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pglogrepl"
)

// walDecoder reads pgoutput's messages (protocol version 1) for one
// table's feed: relations, transactions and their changes.
type walDecoder struct {
	t     *table
	rels  map[uint32]*relation
	inTxn bool
	final pglogrepl.LSN // the commit LSN of the transaction being read
	idx   int           // its changes so far
}

// relation is a RelationMessage's columns matched to the table's.
type relation struct {
	name string
	cols []*column // by the message's column order; nil: not in the table as read
}

// walEvent is what one message means to the feed: a change, the end of a
// transaction, or nothing.
type walEvent struct {
	change *walChange
	commit *pglogrepl.CommitMessage
}

// walChange is one insert, update or delete, as JSON members ready to
// send.
type walChange struct {
	final pglogrepl.LSN
	idx   int
	op    string
	row   []byte // a JSON object
	old   []byte // nil when none
	// sure: the values were checked against their columns as they were
	// encoded, so the message fits the manifest without its JSON Schema
	// being run on it.
	sure bool
}

// appendJSON appends the Change message of ch at pos.
func (ch *walChange) appendJSON(buf []byte, pos lsnPos) []byte {
	buf = append(buf, `{"position":"`...)
	buf = append(buf, pos.String()...)
	buf = append(buf, `","op":"`...)
	buf = append(buf, ch.op...)
	buf = append(buf, `","row":`...)
	buf = append(buf, ch.row...)
	if ch.old != nil {
		buf = append(buf, `,"old":`...)
		buf = append(buf, ch.old...)
	}
	return append(buf, '}')
}

// maxWALMessage bounds one replication message the feed decodes (a row
// larger than this fails the feed with a reason rather than allocating).
const maxWALMessage = 64 << 20

// decode reads one pgoutput message. A message that does not decode is an
// error (the parser's panics on short input included), never a crash.
func (d *walDecoder) decode(data []byte) (ev walEvent, err error) {
	if len(data) == 0 || len(data) > maxWALMessage {
		return ev, fmt.Errorf("a replication message of %d bytes; give 1 to %d", len(data), maxWALMessage)
	}
	defer func() {
		if p := recover(); p != nil { // pglogrepl's parser indexes short input unchecked
			ev, err = walEvent{}, fmt.Errorf("a malformed %q message: %v", rune(data[0]), p)
		}
	}()
	switch data[0] {
	case 'R', 'B', 'C':
	case 'I', 'U', 'D':
		// pglogrepl allocates a value's bytes by the length the message
		// says before it looks whether they are there: look first.
		if err := checkTuples(data); err != nil {
			return ev, err
		}
	default:
		return ev, nil // origin, type, truncate, logical message: not the feed's
	}
	m, err := pglogrepl.Parse(data)
	if err != nil {
		return ev, err
	}
	switch m := m.(type) {
	case *pglogrepl.RelationMessage:
		rel := &relation{name: m.RelationName, cols: make([]*column, len(m.Columns))}
		for i, rc := range m.Columns {
			for j := range d.t.Columns {
				if d.t.Columns[j].Name == rc.Name {
					rel.cols[i] = &d.t.Columns[j]
				}
			}
		}
		d.rels[m.RelationID] = rel
	case *pglogrepl.BeginMessage:
		d.inTxn, d.final, d.idx = true, m.FinalLSN, 0
	case *pglogrepl.CommitMessage:
		d.inTxn = false
		ev.commit = m
	case *pglogrepl.InsertMessage:
		return d.change(m.RelationID, "insert", m.Tuple, nil)
	case *pglogrepl.UpdateMessage:
		return d.change(m.RelationID, "update", m.NewTuple, m.OldTuple)
	case *pglogrepl.DeleteMessage:
		return d.change(m.RelationID, "delete", m.OldTuple, nil)
	}
	return ev, nil
}

func (d *walDecoder) change(rel uint32, op string, tuple, old *pglogrepl.TupleData) (walEvent, error) {
	r := d.rels[rel]
	if r == nil {
		return walEvent{}, fmt.Errorf("a %s of relation %d, which no relation message described", op, rel)
	}
	if !d.inTxn {
		return walEvent{}, fmt.Errorf("a %s outside a transaction", op)
	}
	d.idx++
	if r.name != d.t.Name || tuple == nil {
		return walEvent{}, nil // not this feed's table (the publication has only it)
	}
	ch := &walChange{final: d.final, idx: d.idx, op: op, sure: true}
	var sure bool
	ch.row, sure = r.appendTuple(nil, tuple, old, d.t)
	ch.sure = ch.sure && sure
	if old != nil {
		ch.old, sure = r.appendTuple(nil, old, nil, d.t)
		ch.sure = ch.sure && sure
	}
	return walEvent{change: ch}, nil
}

// appendTuple appends a tuple as the JSON object a query of the table
// gives; an unchanged TOASTed value is taken from old. sure reports that
// every value was checked against its column and every required column
// is there.
func (r *relation) appendTuple(buf []byte, tuple, old *pglogrepl.TupleData, t *table) ([]byte, bool) {
	sure := len(tuple.Columns) == len(r.cols)
	buf = append(buf, '{')
	first := true
	have := 0
	for i, tc := range tuple.Columns {
		if i >= len(r.cols) || r.cols[i] == nil {
			sure = false // a column the schema reading does not know yet
			continue
		}
		col := r.cols[i]
		if tc.DataType == pglogrepl.TupleDataTypeToast {
			if old == nil || i >= len(old.Columns) || old.Columns[i].DataType == pglogrepl.TupleDataTypeToast {
				sure = false // unchanged and not sent: left out
				continue
			}
			tc = old.Columns[i]
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		have++
		buf = appendJSONString(buf, col.Name)
		buf = append(buf, ':')
		var ok bool
		switch tc.DataType {
		case pglogrepl.TupleDataTypeNull:
			buf, ok = append(buf, "null"...), !col.NotNull
		case pglogrepl.TupleDataTypeText:
			buf, ok = appendPGText(buf, col, string(tc.Data))
		default: // binary: not asked for
			buf, ok = appendJSONString(buf, base64.StdEncoding.EncodeToString(tc.Data)), false
		}
		sure = sure && ok
	}
	if have != len(t.Columns) {
		sure = false
	}
	return append(buf, '}'), sure
}

// appendPGText appends a value in PostgreSQL's text output (DateStyle ISO,
// TimeZone UTC, bytea hex) as the JSON a query of col gives. ok reports
// that the JSON fits col's schema (type, range, length, format); when it
// is false the caller checks the message against the manifest.
func appendPGText(buf []byte, col *column, s string) ([]byte, bool) {
	switch col.Kind {
	case kindInteger:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return appendJSONString(buf, s), false
		}
		ok := col.Min == nil || (n >= *col.Min && n <= *col.Max)
		return strconv.AppendInt(buf, n, 10), ok
	case kindNumber:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			if err == nil || s == "NaN" || strings.HasSuffix(s, "Infinity") {
				return append(buf, "null"...), !col.NotNull // as a query gives them
			}
			return appendJSONString(buf, s), false
		}
		if col.Float32 {
			return strconv.AppendFloat(buf, f, 'g', -1, 32), true
		}
		return strconv.AppendFloat(buf, f, 'g', -1, 64), true
	case kindDecimal:
		if isPlainNumber(s) {
			return append(buf, s...), true
		}
		return appendJSONString(buf, s), false
	case kindBoolean:
		switch s {
		case "t":
			return append(buf, "true"...), true
		case "f":
			return append(buf, "false"...), true
		}
		return appendJSONString(buf, s), false
	case kindBytes:
		b, err := hex.DecodeString(strings.TrimPrefix(s, `\x`))
		if err != nil || !strings.HasPrefix(s, `\x`) {
			return appendJSONString(buf, s), false
		}
		return appendJSONString(buf, base64.StdEncoding.EncodeToString(b)), true
	case kindTime:
		t, err := parsePGTime(s)
		if err != nil {
			return appendJSONString(buf, s), false
		}
		return strconv.AppendQuote(buf, t.Format(time.RFC3339Nano)), true
	case kindDate:
		_, err := time.Parse(time.DateOnly, s)
		return appendJSONString(buf, s), err == nil
	case kindJSON:
		if json.Valid([]byte(s)) {
			return appendCompact(buf, s), true
		}
		return appendJSONString(buf, s), false
	case kindUUID:
		return appendJSONString(buf, s), isUUID(s)
	case kindString:
		ok := utf8.ValidString(s)
		if ok && col.MaxLength > 0 {
			ok = utf8.RuneCountInString(s) <= col.MaxLength
		}
		if ok && len(col.Enum) > 0 {
			ok = false
			for _, e := range col.Enum {
				ok = ok || e == s
			}
		}
		return appendJSONString(buf, s), ok
	}
	return appendJSONString(buf, s), utf8.ValidString(s) // any JSON value
}

// isPlainNumber reports whether s is a JSON number as PostgreSQL writes
// numeric: digits, one point, a leading minus.
func isPlainNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || (len(s) > 1 && s[0] == '0' && s[1] != '.') {
		return false
	}
	point := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.' && !point:
			point = true
		case c < '0' || c > '9':
			return false
		}
	}
	return true
}

// parsePGTime reads timestamp and timestamptz in DateStyle ISO, TimeZone
// UTC ("2026-12-01 10:00:00.5", "2026-12-01 10:00:00.5+00").
func parsePGTime(s string) (time.Time, error) {
	if strings.HasSuffix(s, " BC") || len(s) < 19 {
		return time.Time{}, errors.New("not a timestamp of the common era")
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999Z07:00:00", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a timestamp", s)
}

// checkTuples checks that the tuples of an insert, update or delete
// message hold the bytes their lengths say, each within the message.
func checkTuples(data []byte) error {
	p := 5 // the type and the relation id
	if len(data) < p+1 {
		return errors.New("a change message shorter than its header")
	}
	tuple := func() error {
		if p+2 > len(data) {
			return errors.New("a tuple without its column count")
		}
		n := int(binary.BigEndian.Uint16(data[p:]))
		p += 2
		for range n {
			if p >= len(data) {
				return fmt.Errorf("a tuple of %d columns ends early", n)
			}
			kind := data[p]
			p++
			if kind != pglogrepl.TupleDataTypeText && kind != pglogrepl.TupleDataTypeBinary {
				continue
			}
			if p+4 > len(data) {
				return errors.New("a value without its length")
			}
			size := binary.BigEndian.Uint32(data[p:])
			p += 4
			if uint64(size) > uint64(len(data)-p) {
				return fmt.Errorf("a value of %d bytes in a message of %d", size, len(data))
			}
			p += int(size)
		}
		return nil
	}
	for p < len(data) {
		switch data[p] {
		case 'K', 'O', 'N':
			p++
			if err := tuple(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("a tuple marked %q", rune(data[p]))
		}
	}
	return nil
}

// isUUID reports whether s is a UUID as PostgreSQL writes one:
// 8-4-4-4-12 hex digits.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
