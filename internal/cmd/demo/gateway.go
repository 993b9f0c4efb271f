package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/ifkit/ifkit/adapter/httpgw"
	"github.com/ifkit/ifkit/iface"
)

// overHTTP puts the server at addr on HTTP, as `ifctl gateway` does, and
// makes a few requests to it.
func overHTTP(ctx context.Context, out io.Writer, addr string) error {
	heading(out, "8. HTTP: the same interfaces through a gateway (ifctl gateway, adapter/httpgw)")
	gw, err := httpgw.New(ctx, func(ctx context.Context) (*iface.Client, error) {
		return iface.Dial(ctx, addr, iface.WithClientName("ifctl demo gateway"))
	})
	if err != nil {
		return err
	}
	defer gw.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: gw}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(l) }()
	defer func() { hs.Close(); <-served }()
	base := "http://" + l.Addr().String()
	client := &http.Client{}
	defer client.CloseIdleConnections()
	do := func(method, path, body string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		data, err := io.ReadAll(res.Body)
		return res.StatusCode, strings.TrimSpace(string(data)), err
	}
	fmt.Fprintf(out, "   gateway on %s\n", base)

	_, body, err := do("GET", "/", "")
	if err != nil {
		return err
	}
	var idx struct{ Interfaces []struct{ Name string } }
	if err := json.Unmarshal([]byte(body), &idx); err != nil {
		return fmt.Errorf("the index: %w", err)
	}
	fmt.Fprintf(out, "   GET  /                                    → %d interfaces, each with its routes\n", len(idx.Interfaces))

	_, body, err = do("GET", "/db.kv/openapi.json", "")
	if err != nil {
		return err
	}
	var doc struct {
		OpenAPI string
		Paths   map[string]any
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		return fmt.Errorf("the OpenAPI document: %w", err)
	}
	fmt.Fprintf(out, "   GET  /db.kv/openapi.json                  → OpenAPI %s, %d paths\n", doc.OpenAPI, len(doc.Paths))

	st, body, err := do("POST", "/db.kv/Get", `{"key":"greeting"}`)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   POST /db.kv/Get {\"key\":\"greeting\"}        → %d %s\n", st, body)

	req, err := http.NewRequestWithContext(ctx, "GET", base+"/sensors.temperature/stream?n=2", nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "   GET  /sensors.temperature/stream?n=2      → NDJSON, credits following the reader:")
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		fmt.Fprintf(out, "        %s\n", sc.Text())
	}
	res.Body.Close()

	st, body, err = do("POST", "/logs.sink/Record", `{"time":"now","level":"info","message":"x"}`)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   POST /logs.sink/Record (a bad time)       → %d %s\n", st, body)
	if st != http.StatusBadRequest {
		return fmt.Errorf("an invalid record through the gateway was answered %d", st)
	}
	return nil
}
