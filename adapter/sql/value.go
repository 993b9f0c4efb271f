package dbadapter

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// appendValue appends v, as a driver scanned it from a column of kind k,
// as JSON.
func appendValue(buf []byte, k kind, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...)
	case int64:
		if k == kindBoolean {
			return strconv.AppendBool(buf, x != 0)
		}
		return strconv.AppendInt(buf, x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(buf, "null"...)
		}
		if k == kindInteger && x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.AppendInt(buf, int64(x), 10)
		}
		return strconv.AppendFloat(buf, x, 'g', -1, 64)
	case bool:
		return strconv.AppendBool(buf, x)
	case time.Time:
		if k == kindDate {
			return strconv.AppendQuote(buf, x.Format(time.DateOnly))
		}
		return strconv.AppendQuote(buf, x.UTC().Format(time.RFC3339Nano))
	case []byte:
		if k == kindBytes || !utf8.Valid(x) {
			return appendJSONString(buf, base64.StdEncoding.EncodeToString(x))
		}
		return appendText(buf, k, string(x))
	case string:
		return appendText(buf, k, x)
	}
	return appendJSONString(buf, fmt.Sprint(v))
}

// appendText appends text a driver gave for a column of kind k: a JSON
// document or number as itself, anything else as a string.
func appendText(buf []byte, k kind, s string) []byte {
	switch k {
	case kindJSON, kindAny:
		if k == kindJSON && json.Valid([]byte(s)) {
			return appendCompact(buf, s)
		}
	case kindDecimal, kindNumber, kindInteger:
		if isJSONNumber(s) {
			return append(buf, s...)
		}
	case kindBoolean:
		switch strings.ToLower(s) {
		case "t", "true", "1":
			return append(buf, "true"...)
		case "f", "false", "0":
			return append(buf, "false"...)
		}
	}
	return appendJSONString(buf, s)
}

func appendCompact(buf []byte, s string) []byte {
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return appendJSONString(buf, s)
	}
	return append(buf, b.Bytes()...)
}

func appendJSONString(buf []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(buf, b...)
}

func isJSONNumber(s string) bool {
	if s == "" {
		return false
	}
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil && !strings.ContainsAny(s, `"`)
}

// fromChange turns a value the change table's trigger wrote (SQLite's
// json_object with blobs as hex, PostgreSQL's to_jsonb with bytea as \x…)
// into the JSON a query of the column gives.
func fromChange(buf []byte, k kind, raw json.RawMessage) []byte {
	if string(raw) == "null" {
		return append(buf, "null"...)
	}
	switch k {
	case kindBytes:
		var s string
		if json.Unmarshal(raw, &s) == nil {
			b, err := hex.DecodeString(strings.TrimPrefix(s, `\x`))
			if err == nil {
				return appendJSONString(buf, base64.StdEncoding.EncodeToString(b))
			}
		}
	case kindBoolean:
		switch string(raw) {
		case "0":
			return append(buf, "false"...)
		case "1":
			return append(buf, "true"...)
		}
	case kindTime: // to_jsonb writes a timestamp without a zone as local time
		var s string
		if json.Unmarshal(raw, &s) == nil {
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
				if t, err := time.Parse(layout, s); err == nil {
					return strconv.AppendQuote(buf, t.UTC().Format(time.RFC3339Nano))
				}
			}
		}
	case kindNumber: // to_jsonb writes NaN and the infinities as strings; a query gives null
		switch string(raw) {
		case `"NaN"`, `"Infinity"`, `"-Infinity"`:
			return append(buf, "null"...)
		}
	case kindJSON:
		var s string
		if json.Unmarshal(raw, &s) == nil && json.Valid([]byte(s)) { // SQLite keeps JSON as text
			return appendCompact(buf, s)
		}
	}
	return append(buf, raw...)
}

// toArg turns a JSON value (decoded with UseNumber) into an argument for
// a column or parameter of kind k.
func toArg(k kind, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case json.Number:
		switch k {
		case kindInteger:
			n, err := x.Int64()
			if err != nil {
				return nil, fmt.Errorf("%s is not a 64-bit integer", x)
			}
			return n, nil
		case kindDecimal, kindString, kindAny, kindJSON:
			return x.String(), nil
		}
		return x.Float64()
	case bool:
		return x, nil
	case string:
		if k == kindBytes {
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return nil, fmt.Errorf("not base64: %v", err)
			}
			return b, nil
		}
		if k == kindJSON {
			b, _ := json.Marshal(x)
			return string(b), nil
		}
		return x, nil
	}
	b, err := json.Marshal(v) // an object or array, for a JSON or untyped column
	if err != nil {
		return nil, err
	}
	return string(b), nil
}
