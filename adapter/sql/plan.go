package dbadapter

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ifkit/ifkit/codec"
)

// rowPlan writes the rows of one result as JSON objects, column by column,
// each column's name encoded once. It also says whether a row is sure to
// fit its type's schema: every value was checked against its column as it
// was written (type, range, length, format, nullability), which is what the
// schema says of it, so the row need not be decoded and checked again.
type rowPlan struct {
	cols  []column
	names [][]byte // `"name":`, with the comma before it for all but the first
	any   bool     // the type is any object (raw SQL's RawRow): every row fits
}

func newRowPlan(cols []column, anyRow bool) *rowPlan {
	p := &rowPlan{cols: cols, any: anyRow, names: make([][]byte, len(cols))}
	for i, c := range cols {
		var b []byte
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, c.Name)
		p.names[i] = append(b, ':')
	}
	return p
}

// append appends the row of vals (as the driver scanned them).
func (p *rowPlan) append(buf []byte, vals []any) ([]byte, bool) {
	buf = append(buf, '{')
	sure := true
	for i := range p.cols {
		buf = append(buf, p.names[i]...)
		var ok bool
		buf, ok = appendChecked(buf, &p.cols[i], vals[i])
		sure = sure && ok
	}
	return append(buf, '}'), sure || p.any
}

// maxSureDecimal bounds the digits of a numeric value written without a
// check (the json codec bounds what it checks; a longer one is checked).
const maxSureDecimal = 100

// appendChecked appends v as appendValue does, and reports whether the
// JSON fits c's schema (column.schema) for certain.
func appendChecked(buf []byte, c *column, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), !c.NotNull
	case int64:
		switch c.Kind {
		case kindInteger:
			return strconv.AppendInt(buf, x, 10), c.Min == nil || (x >= *c.Min && x <= *c.Max)
		case kindBoolean:
			return strconv.AppendBool(buf, x != 0), true
		case kindNumber, kindDecimal, kindAny:
			return strconv.AppendInt(buf, x, 10), true
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(buf, "null"...), !c.NotNull
		}
		switch c.Kind {
		case kindNumber, kindDecimal, kindAny:
			if c.Float32 {
				return strconv.AppendFloat(buf, x, 'g', -1, 32), true
			}
			return strconv.AppendFloat(buf, x, 'g', -1, 64), true
		}
	case bool:
		if c.Kind == kindBoolean || c.Kind == kindAny {
			return strconv.AppendBool(buf, x), true
		}
	case time.Time:
		if y := x.Year(); y < 0 || y > 9999 {
			break
		}
		switch c.Kind {
		case kindTime:
			return strconv.AppendQuote(buf, x.UTC().Format(time.RFC3339Nano)), true
		case kindDate:
			return strconv.AppendQuote(buf, x.Format(time.DateOnly)), true
		}
	case []byte:
		if c.Kind == kindBytes {
			return appendJSONString(buf, base64.StdEncoding.EncodeToString(x)), true
		}
		if utf8.Valid(x) {
			return appendCheckedText(buf, c, string(x))
		}
	case string:
		return appendCheckedText(buf, c, x)
	}
	return appendValue(buf, c.Kind, v), c.Kind == kindAny
}

func appendCheckedText(buf []byte, c *column, s string) ([]byte, bool) {
	switch c.Kind {
	case kindString:
		ok := utf8.ValidString(s) && (c.MaxLength == 0 || utf8.RuneCountInString(s) <= c.MaxLength)
		if ok && len(c.Enum) > 0 {
			ok = false
			for _, e := range c.Enum {
				ok = ok || e == s
			}
		}
		return appendJSONString(buf, s), ok
	case kindDecimal:
		if len(s) <= maxSureDecimal && isPlainNumber(s) {
			return append(buf, s...), true
		}
	case kindUUID:
		return appendJSONString(buf, s), isUUID(s)
	case kindJSON:
		if json.Valid([]byte(s)) {
			return appendCompact(buf, s), true
		}
	case kindAny:
		return appendText(buf, c.Kind, s), true
	}
	return appendText(buf, c.Kind, s), false
}

// Codecs is the codec set of a server the adapter serves on: the standard
// codecs, whose json codec sends a row the adapter wrote and checked
// column by column (rowPlan) as it is, without decoding it to check it
// against its schema again. Everything else it checks as codec.JSON does.
// A server with other codecs serves the adapter as well, checking every
// row.
//
//	srv := iface.NewServer(iface.WithCodecs(dbadapter.Codecs()))
func Codecs() *codec.Set {
	return codec.NewSet(codec.Proto(), checkedJSONCodec{codec.JSON()}, codec.Raw())
}

// checkedJSON is a row the adapter wrote and checked (rowPlan): compact,
// valid UTF-8, and fitting its type. Only this package makes one.
type checkedJSON []byte

// checkedJSONCodec is codec.JSON, but for checkedJSON, which it appends as
// it is.
type checkedJSONCodec struct{ codec.Codec }

func (c checkedJSONCodec) Append(dst []byte, t *codec.Type, v any) ([]byte, error) {
	if b, ok := v.(checkedJSON); ok {
		return append(dst, b...), nil
	}
	return c.Codec.Append(dst, t, v)
}

var _ codec.Codec = checkedJSONCodec{}
