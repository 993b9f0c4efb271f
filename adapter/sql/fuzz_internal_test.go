package dbadapter

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/ifkit/ifkit/codec"
)

// fuzzTable is a table with a column of every kind the feed writes.
func fuzzTable() *table {
	i2min, i2max := int16Min, int16Max
	return &table{Name: "kinds", Columns: []column{
		{Name: "id", Kind: kindInteger, NotNull: true},
		{Name: "small", Kind: kindInteger, Min: &i2min, Max: &i2max},
		{Name: "f", Kind: kindNumber, NotNull: true},
		{Name: "r", Kind: kindNumber, Float32: true},
		{Name: "n", Kind: kindDecimal},
		{Name: "b", Kind: kindBoolean},
		{Name: "s", Kind: kindString, MaxLength: 4},
		{Name: "e", Kind: kindString, Enum: []string{"sad", "happy"}},
		{Name: "by", Kind: kindBytes},
		{Name: "ts", Kind: kindTime},
		{Name: "d", Kind: kindDate},
		{Name: "j", Kind: kindJSON},
		{Name: "u", Kind: kindUUID},
		{Name: "x", Kind: kindAny},
	}}
}

func relationMsg(t *table) []byte {
	b := []byte{'R'}
	b = binary.BigEndian.AppendUint32(b, 16384)
	b = append(append(b, "public"...), 0)
	b = append(append(b, t.Name...), 0)
	b = append(b, 'f')
	b = binary.BigEndian.AppendUint16(b, uint16(len(t.Columns)))
	for _, c := range t.Columns {
		b = append(b, 0)
		b = append(append(b, c.Name...), 0)
		b = binary.BigEndian.AppendUint32(b, 25)
		b = binary.BigEndian.AppendUint32(b, 0xffffffff)
	}
	return b
}

func beginMsg(final uint64) []byte {
	b := []byte{'B'}
	b = binary.BigEndian.AppendUint64(b, final)
	b = binary.BigEndian.AppendUint64(b, 0)
	return binary.BigEndian.AppendUint32(b, 7)
}

func insertMsg(vals []string) []byte {
	b := []byte{'I'}
	b = binary.BigEndian.AppendUint32(b, 16384)
	b = append(b, 'N')
	b = binary.BigEndian.AppendUint16(b, uint16(len(vals)))
	for _, v := range vals {
		if v == "\x00null" {
			b = append(b, 'n')
			continue
		}
		b = append(b, 't')
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}

// FuzzWALDecode: no replication message crashes the feed's decoder, and a
// change it says is sure fits the feed's manifest: the soundness of
// sending it without running the JSON Schema.
func FuzzWALDecode(f *testing.F) {
	f.Add(insertMsg([]string{"1", "-7", "2.5", "0.1", "12.345", "t", "abcd", "happy", `\xdeadbeef`, "2026-12-01 10:11:12.345678+00", "2026-12-01", `{"a":[1,2]}`, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "{1,2}"}))
	f.Add(insertMsg([]string{"1", "70000", "NaN", "Infinity", "NaN", "x", "abcde", "meh", `\xzz`, "infinity", "2026-13-01", `{`, "nope", "\xff"}))
	f.Add(insertMsg([]string{"1", "\x00null", "1e308", "\x00null", "-0.5", "f", "ab", "sad", `\x`, "2026-12-01 10:11:12", "0001-01-01", "null", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "\x00null"}))
	f.Add([]byte{'I', 0, 0, 0x40, 0, 'N', 0xff, 0xff})
	f.Add([]byte{'U', 0, 0, 0x40, 0, 'O', 0, 1, 'u', 'N', 0, 1, 't', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{'R'})
	tbl := fuzzTable()
	cfg := Config{Name: "fz", Feeds: []string{"kinds"}}
	if err := cfg.Validate(); err != nil {
		f.Fatal(err)
	}
	a := &Adapter{cfg: cfg, d: postgresDB{}, mode: ModeLogical}
	m, err := a.feedManifest(tbl)
	if err != nil {
		f.Fatal(err)
	}
	mt, _ := m.Type(TypeChange)
	f.Fuzz(func(t *testing.T, data []byte) {
		d := walDecoder{t: tbl, rels: map[uint32]*relation{}}
		for _, pre := range [][]byte{relationMsg(tbl), beginMsg(0x16B3748)} {
			if _, err := d.decode(pre); err != nil {
				t.Fatal(err)
			}
		}
		ev, err := d.decode(data)
		if err != nil || ev.change == nil {
			return
		}
		msg := ev.change.appendJSON(nil, lsnPos{lsn: pglogrepl.LSN(0x16B3748), idx: 1})
		err = codec.CheckJSON(msg, &mt.Type)
		if ev.change.sure && err != nil {
			t.Fatalf("a change said to be sure does not fit the manifest: %v\n%s", err, msg)
		}
	})
}

// FuzzRowPlan: a row the plan calls sure fits the row's schema, whatever
// values the driver gave (the soundness of sending it unchecked, through
// Codecs).
func FuzzRowPlan(f *testing.F) {
	f.Add(int64(7), 2.5, "abcd", []byte("happy"), true, int64(1764583872))
	f.Add(int64(70000), math.NaN(), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", []byte{0xff}, false, int64(-62135596801))
	f.Add(int64(-1), math.Inf(1), `{"a":1}`, []byte(nil), true, int64(253402300800))
	tbl := fuzzTable()
	a := &Adapter{cfg: Config{Name: "fz"}, d: postgresDB{}}
	m, err := a.parse("fz", map[string]any{"ifkit": 1, "name": "fz", "version": "1.0.0", "direction": "send", "codecs": []string{"json"},
		"messages": map[string]any{"send": map[string]any{"Row": map[string]any{"schema": rowSchema(tbl)}}}})
	if err != nil {
		f.Fatal(err)
	}
	mt, _ := m.Type("Row")
	plan := newRowPlan(tbl.Columns, false)
	f.Fuzz(func(t *testing.T, i int64, x float64, s string, b []byte, flag bool, sec int64) {
		choices := []any{i, x, s, b, flag, time.Unix(sec, 0).UTC(), nil}
		vals := make([]any, len(tbl.Columns))
		for k := range vals {
			vals[k] = choices[(k+int(uint64(i)%7))%len(choices)]
		}
		row, sure := plan.append(nil, vals)
		if err := codec.CheckJSON(row, &mt.Type); sure && err != nil {
			t.Fatalf("a row said to be sure does not fit its schema: %v\n%s", err, row)
		}
	})
}
