package iface

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Balance is how a Balancer picks the address of each new connection.
type Balance int

// The policies.
const (
	// BalanceFirst takes the first address that answers, in order: failover only.
	BalanceFirst Balance = iota
	// BalanceRoundRobin takes the addresses in turn.
	BalanceRoundRobin
	// BalanceRandom takes an address at random for each connection.
	BalanceRandom
)

var balanceNames = []string{"first", "round-robin", "random"}

// String returns the policy's name as ParseBalance reads it.
func (b Balance) String() string {
	if int(b) < len(balanceNames) {
		return balanceNames[b]
	}
	return fmt.Sprintf("balance(%d)", int(b))
}

// ParseBalance reads a policy's name: first, round-robin or random.
func ParseBalance(s string) (Balance, error) {
	for i, n := range balanceNames {
		if s == n {
			return Balance(i), nil
		}
	}
	return 0, fmt.Errorf("unknown balance %q: want first, round-robin or random", s)
}

// Balancer spreads connections over several servers of the same
// interfaces: each Connect picks an address by the policy, and goes on to
// the next when that one cannot be reached. It keeps one session (Client)
// per address, dialed when first needed and again once it has ended. It is
// safe for concurrent use; Close it when done.
type Balancer struct {
	addrs  []Addr
	policy Balance
	opts   []DialOption
	turn   atomic.Uint64

	mu      sync.Mutex
	clients []*Client // by address; nil until dialed
	closed  bool
}

// NewBalancer returns a balancer over addrs, a comma-separated list of
// addresses (as Dial reads them), each dialed with opts when first used.
func NewBalancer(addrs string, policy Balance, opts ...DialOption) (*Balancer, error) {
	list, err := ParseAddrList(addrs)
	if err != nil {
		return nil, err
	}
	if int(policy) >= len(balanceNames) || policy < 0 {
		return nil, fmt.Errorf("ifkit: NewBalancer: unknown policy %d", int(policy))
	}
	return &Balancer{addrs: list, policy: policy, opts: opts, clients: make([]*Client, len(list))}, nil
}

// pick returns the index of the address to try first.
func (b *Balancer) pick() int {
	switch b.policy {
	case BalanceRoundRobin:
		return int((b.turn.Add(1) - 1) % uint64(len(b.addrs)))
	case BalanceRandom:
		return rand.IntN(len(b.addrs))
	}
	return 0
}

// Connect opens a connection to the named interface on the address the
// policy picks, or the next that answers. A stream the server refuses (an
// unknown interface, invalid parameters) is not retried elsewhere: the
// servers behind a balancer serve the same interfaces.
func (b *Balancer) Connect(ctx context.Context, iface string, opts ...ConnectOption) (*Conn, error) {
	start := b.pick()
	var errs []error
	for i := range b.addrs {
		idx := (start + i) % len(b.addrs)
		c, err := b.client(ctx, idx)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil || errors.Is(err, ErrAuth) || errors.Is(err, ErrClosed) {
				break
			}
			continue
		}
		conn, err := c.Connect(ctx, iface, opts...)
		var ce *CloseError
		if err == nil || errors.As(err, &ce) && ce.Remote {
			return conn, err
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// ErrClosed is what a closed Balancer's Connect fails with.
const ErrClosed errorString = "ifkit: the balancer is closed"

// client returns the session to address idx, dialing it if there is none
// or it has ended.
func (b *Balancer) client(ctx context.Context, idx int) (*Client, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	if c := b.clients[idx]; c != nil && !c.sess.IsClosed() {
		b.mu.Unlock()
		return c, nil
	}
	b.mu.Unlock()
	c, err := Dial(ctx, b.addrs[idx].String(), b.opts...)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		c.Close()
		return nil, ErrClosed
	}
	if old := b.clients[idx]; old != nil && !old.sess.IsClosed() {
		c.Close() // dialed meanwhile by another Connect
		return old, nil
	}
	b.clients[idx] = c
	return c, nil
}

// Close closes every session, and the connections on them.
func (b *Balancer) Close() error {
	b.mu.Lock()
	b.closed = true
	clients := b.clients
	b.clients = make([]*Client, len(b.addrs))
	b.mu.Unlock()
	for _, c := range clients {
		if c != nil {
			c.Close()
		}
	}
	return nil
}
