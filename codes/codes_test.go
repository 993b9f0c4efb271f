package codes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/ifkit/ifkit/codes"
)

func TestEveryCodeRoundTrips(t *testing.T) {
	for _, c := range codes.All() {
		got, err := codes.Parse(c.String())
		if err != nil || got != c {
			t.Errorf("Parse(%q) = %v, %v; want %d", c.String(), got, err, c)
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back codes.Code
		if err := json.Unmarshal(b, &back); err != nil || back != c {
			t.Errorf("JSON %s read back as %v, %v", b, back, err)
		}
	}
	if got, err := codes.Parse("code(99)"); err != nil || got != 99 || got.Known() {
		t.Errorf("Parse(code(99)) = %v, %v", got, err)
	}
	if _, err := codes.Parse("credit violation"); err == nil {
		t.Error("Parse accepted a name no code has")
	}
}

// TestCodesMatchTheSpec reads the code table of spec/PROTOCOL.md §9 and
// checks that every row names the code this package gives that number, and
// that every code has a row.
func TestCodesMatchTheSpec(t *testing.T) {
	spec, err := os.ReadFile("../spec/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(spec, []byte("\n## 9. Codes"))
	end := bytes.Index(spec, []byte("\n## 10. "))
	if start < 0 || end < start {
		t.Fatal("spec/PROTOCOL.md has no section 9. Codes followed by 10.")
	}
	rows := regexp.MustCompile("(?m)^\\| *(\\d+) *\\| *`([a-z_]+)` *\\|").FindAllSubmatch(spec[start:end], -1)
	seen := map[codes.Code]bool{}
	for _, r := range rows {
		n, _ := strconv.Atoi(string(r[1]))
		c := codes.Code(n)
		if c.String() != string(r[2]) {
			t.Errorf("spec: code %d is %s; the code says %s", n, r[2], c)
		}
		seen[c] = true
	}
	for _, c := range codes.All() {
		if !seen[c] {
			t.Errorf("spec/PROTOCOL.md §9 has no row for code %d (%s)", c, c)
		}
	}
}

func TestOf(t *testing.T) {
	closed := fmt.Errorf("send: %w", &codes.CloseError{Code: codes.CreditViolation, Reason: "no credit"})
	refused := &codes.RemoteError{Code: codes.InvalidMessage, Reason: "bad", Seq: 3}
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{nil, codes.OK},
		{closed, codes.CreditViolation},
		{refused, codes.InvalidMessage},
		{fmt.Errorf("wrapped: %w", codes.Draining), codes.Draining},
		{context.Canceled, codes.Internal},
	} {
		if got := codes.Of(tc.err); got != tc.want {
			t.Errorf("Of(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
	if !errors.Is(closed, codes.CreditViolation) || errors.Is(closed, codes.NormalClose) {
		t.Error("errors.Is does not match a CloseError by its code")
	}
	if !errors.Is(refused, codes.InvalidMessage) {
		t.Error("errors.Is does not match a RemoteError by its code")
	}
}

func ExampleOf() {
	err := fmt.Errorf("recv: %w", &codes.CloseError{Code: codes.KeepaliveTimeout, Remote: true})
	switch codes.Of(err) {
	case codes.KeepaliveTimeout:
		fmt.Println("the peer went quiet; reconnect")
	default:
		fmt.Println(err)
	}
	// Output: the peer went quiet; reconnect
}
