package iface

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ifkit/ifkit/internal/authmac"
)

// ServerTLS builds the TLS configuration of a tls:// server from PEM files:
// its certificate and key, and, when clientCAFile is not empty, the CA that
// client certificates must chain to (mutual TLS: clients without one are
// refused).
func ServerTLS(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the server certificate %s and key %s: %w", certFile, keyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pool, err := loadPool(clientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientTLS builds a client's TLS configuration from PEM files: the CA that
// the server's certificate must chain to ("" for the system's roots) and,
// for mutual TLS, the client's certificate and key ("" for none). The
// server's name is checked against the address's host.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadPool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading the client certificate %s and key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading CA certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// Shared-secret authentication (spec/PROTOCOL.md, "Authentication"): after
// the preface, a server with a secret answers with status authRequired and a
// 32-byte nonce; the client proves it knows the secret and checks that the
// server does too. The secret never crosses the wire.
const (
	prefaceAuthRequired = 0x03
	authOK              = 0x00
	authFailed          = 0x04
	nonceLen            = 32
	macLen              = authmac.Size
	minSecretLen        = 16
)

// errSecret is returned by Dial when the server refused the client's
// proof of the shared secret, or the server failed to prove it knows it.
const errSecret errorString = "auth_failed"

// ErrSecretRequired is the cause of the auth_failed error of a Dial without
// a shared secret to a server that requires one: errors.Is tells it from a
// wrong secret.
const ErrSecretRequired errorString = "dial WithSecret"

// secretFailure is the client's errSecret with what went wrong; its text
// is the reason of the auth_failed CloseError Dial returns.
type secretFailure string

func (e secretFailure) Error() string        { return string(e) }
func (e secretFailure) Is(target error) bool { return target == errSecret }

// SecretFromFile reads a secret, shared (WithSecret) or admin
// (WithAdminSecret), from a file (surrounding white space is dropped). It
// must be at least 16 bytes.
func SecretFromFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the secret: %w", err)
	}
	return checkSecret([]byte(strings.TrimSpace(string(data))), path)
}

// SecretFromEnv reads a secret, shared or admin, from an environment
// variable.
func SecretFromEnv(name string) ([]byte, error) {
	v, ok := os.LookupEnv(name)
	if !ok {
		return nil, fmt.Errorf("the environment variable %s holding the secret is not set", name)
	}
	return checkSecret([]byte(strings.TrimSpace(v)), "$"+name)
}

func checkSecret(s []byte, where string) ([]byte, error) {
	if len(s) < minSecretLen {
		return nil, fmt.Errorf("the secret in %s is %d bytes; use at least %d (e.g. openssl rand -hex 32)", where, len(s), minSecretLen)
	}
	return s, nil
}

func authMAC(secret []byte, label string, a, b []byte) []byte {
	return authmac.MAC(secret, label, a, b)
}

// sessionKey is the key both ends derive after a successful challenge-
// response; per-message authentication keys come from it, so a tag made on
// one session is worthless on another.
func sessionKey(secret, serverNonce, clientNonce []byte) []byte {
	return authMAC(secret, "session", serverNonce, clientNonce)
}

// messageKey is the per-connection key of per-message authentication.
func messageKey(sessKey []byte, connID uint64) []byte {
	return authMAC(sessKey, "message", binary.BigEndian.AppendUint64(nil, connID), nil)
}

// serverAuth runs the server's side after it sent prefaceAuthRequired and
// returns the session key.
func serverAuth(rw io.ReadWriter, secret []byte) ([]byte, error) {
	serverNonce := make([]byte, nonceLen)
	if _, err := rand.Read(serverNonce); err != nil {
		return nil, err
	}
	if _, err := rw.Write(serverNonce); err != nil {
		return nil, err
	}
	proof := make([]byte, nonceLen+macLen)
	if _, err := io.ReadFull(rw, proof); err != nil {
		return nil, err
	}
	clientNonce, clientMAC := proof[:nonceLen], proof[nonceLen:]
	if !hmac.Equal(clientMAC, authMAC(secret, "client", serverNonce, clientNonce)) {
		rw.Write([]byte{authFailed})
		return nil, errSecret
	}
	if _, err := rw.Write(append([]byte{authOK}, authMAC(secret, "server", clientNonce, serverNonce)...)); err != nil {
		return nil, err
	}
	return sessionKey(secret, serverNonce, clientNonce), nil
}

// clientAuth runs the client's side after it read prefaceAuthRequired and
// returns the session key.
func clientAuth(rw io.ReadWriter, secret []byte) ([]byte, error) {
	if secret == nil {
		return nil, secretFailure("the server requires a shared secret, and the client has none")
	}
	serverNonce := make([]byte, nonceLen)
	if _, err := io.ReadFull(rw, serverNonce); err != nil {
		return nil, err
	}
	clientNonce := make([]byte, nonceLen)
	if _, err := rand.Read(clientNonce); err != nil {
		return nil, err
	}
	if _, err := rw.Write(append(clientNonce, authMAC(secret, "client", serverNonce, clientNonce)...)); err != nil {
		return nil, err
	}
	var status [1]byte
	if _, err := io.ReadFull(rw, status[:]); err != nil {
		return nil, err
	}
	if status[0] != authOK {
		return nil, secretFailure("the server refused the shared secret")
	}
	serverMAC := make([]byte, macLen)
	if _, err := io.ReadFull(rw, serverMAC); err != nil {
		return nil, err
	}
	if !hmac.Equal(serverMAC, authMAC(secret, "server", clientNonce, serverNonce)) {
		return nil, secretFailure("the server does not know the shared secret (an impostor?)")
	}
	return sessionKey(secret, serverNonce, clientNonce), nil
}
