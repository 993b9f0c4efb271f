package iface_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/testpki"
)

// serveWith starts a server with opts on a listener and returns its address.
func serveWith(t *testing.T, addr string, lopts []iface.ListenOption, sopts ...iface.ServerOption) string {
	s := iface.NewServer(sopts...)
	if err := s.Register(sensors(t, 1)); err != nil {
		t.Fatal(err)
	}
	l, err := iface.Listen(context.Background(), addr, lopts...)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	if strings.HasPrefix(addr, "tls://") {
		return "tls://" + l.Addr().String()
	}
	if strings.HasPrefix(addr, "tcp://") {
		return l.Addr().String()
	}
	return addr
}

// works dials and reads one message.
func works(t *testing.T, addr string, opts ...iface.DialOption) error {
	cl, err := iface.Dial(ctx(t), addr, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	conn, err := cl.Connect(ctx(t), "sensors.temperature")
	if err != nil {
		return err
	}
	defer conn.Close("")
	_, err = conn.Recv(ctx(t))
	return err
}

func TestTLSAndMutualTLS(t *testing.T) {
	p := testpki.New(t)
	serverTLS, err := iface.ServerTLS(p.ServerCert, p.ServerKey, "")
	if err != nil {
		t.Fatal(err)
	}
	addr := serveWith(t, "tls://127.0.0.1:0", []iface.ListenOption{iface.WithServerTLS(serverTLS)})
	trusting, _ := iface.ClientTLS(p.CA, "", "")
	if err := works(t, addr, iface.WithTLS(trusting)); err != nil {
		t.Fatalf("TLS with the right CA: %v", err)
	}
	if err := works(t, addr); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("TLS without trusting the CA: %v, want a certificate error", err)
	}
	wrongName := strings.Replace(addr, "127.0.0.1", "localhost", 1)
	if err := works(t, wrongName, iface.WithTLS(trusting)); err == nil || !strings.Contains(err.Error(), "localhost") {
		t.Errorf("TLS to a name the certificate does not hold: %v", err)
	}

	mutual, err := iface.ServerTLS(p.ServerCert, p.ServerKey, p.CA)
	if err != nil {
		t.Fatal(err)
	}
	refusals := make(chan iface.Refusal, 4)
	mAddr := serveWith(t, "tls://127.0.0.1:0", []iface.ListenOption{iface.WithServerTLS(mutual)}, iface.WithOnRefusal(func(r iface.Refusal) { refusals <- r }))
	if err := works(t, mAddr, iface.WithTLS(trusting)); err == nil {
		t.Error("mutual TLS admitted a client without a certificate")
	}
	select {
	case r := <-refusals:
		if r.Code != iface.CodeTransportError || !strings.Contains(r.Reason, "certificate") {
			t.Errorf("the server heard a client without a certificate as %v", r)
		}
	case <-time.After(5 * time.Second):
		t.Error("the server's refusal hook heard nothing of a client without a certificate")
	}
	withCert, err := iface.ClientTLS(p.CA, p.ClientCert, p.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := works(t, mAddr, iface.WithTLS(withCert)); err != nil {
		t.Fatalf("mutual TLS with a client certificate: %v", err)
	}
	if _, err := iface.Listen(context.Background(), "tls://127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("tls:// without a configuration: %v", err)
	}
}

func TestSharedSecret(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secret"), []byte("correct horse battery staple\n"), 0o600)
	secret, err := iface.SecretFromFile(filepath.Join(dir, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "short"), []byte("abc"), 0o600)
	if _, err := iface.SecretFromFile(filepath.Join(dir, "short")); err == nil {
		t.Error("a 3-byte secret was accepted")
	}
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			addr := "tcp://127.0.0.1:0"
			if tr == "unix" {
				d, _ := os.MkdirTemp("", "ifk")
				t.Cleanup(func() { os.RemoveAll(d) })
				addr = "unix://" + filepath.Join(d, "s.sock")
			}
			refusals := make(chan iface.Refusal, 4)
			addr = serveWith(t, addr, nil, iface.WithSecret(secret), iface.WithOnRefusal(func(r iface.Refusal) { refusals <- r }))
			if err := works(t, addr, iface.WithSecret(secret)); err != nil {
				t.Fatalf("right secret: %v", err)
			}
			for name, opts := range map[string][]iface.DialOption{
				"wrong secret": {iface.WithSecret([]byte("a different secret, long enough"))},
				"no secret":    nil,
			} {
				err := works(t, addr, opts...)
				if !errors.Is(err, iface.ErrAuth) || iface.CodeOf(err) != iface.CodeAuthFailed {
					t.Errorf("%s: %v, want auth_failed", name, err)
				}
				if errors.Is(err, iface.ErrSecretRequired) != (name == "no secret") {
					t.Errorf("%s: errors.Is(ErrSecretRequired) = %v", name, !(name == "no secret"))
				}
				if err != nil && strings.Contains(err.Error(), "horse") {
					t.Errorf("%s: the error shows the secret: %v", name, err)
				}
				select {
				case r := <-refusals:
					if r.Code != iface.CodeAuthFailed || strings.Contains(r.String(), "horse") {
						t.Errorf("%s: the server's refusal hook heard %v", name, r)
					}
				case <-time.After(5 * time.Second):
					t.Errorf("%s: the server's refusal hook heard nothing", name)
				}
			}
		})
	}
}

func TestUnixPeerAllowList(t *testing.T) {
	d, _ := os.MkdirTemp("", "ifk")
	defer os.RemoveAll(d)
	me := os.Getuid()
	allowed := serveWith(t, "unix://"+filepath.Join(d, "a.sock"), nil, iface.WithAllowedPeers([]int{me}, nil))
	if err := works(t, allowed); err != nil {
		t.Fatalf("allowed uid %d: %v", me, err)
	}
	denied := serveWith(t, "unix://"+filepath.Join(d, "d.sock"), nil, iface.WithAllowedPeers([]int{me + 4242}, []int{os.Getgid() + 4242}))
	if err := works(t, denied); !errors.Is(err, iface.ErrAuth) {
		t.Fatalf("uid not on the list: %v, want auth_failed", err)
	}
}
