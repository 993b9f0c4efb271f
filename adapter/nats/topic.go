package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// topicIface is one topics entry: the messages stored on a subject
// published to an ifkit topic.
type topicIface struct {
	a *Adapter
	e Topic
	m *manifest.Manifest
}

// start runs the bridge from the subject to t until the adapter closes:
// an ordered consumer (JetStream redelivers nothing; the bridge starts it
// again after a failure where it left off) from the message after the
// stream's last one now, so every message stored once start has returned
// reaches the topic.
func (ti *topicIface) start(t *iface.Topic) error {
	ctx, cancel := context.WithTimeout(ti.a.ctx, controlTimeout)
	defer cancel()
	st, err := ti.a.js.Stream(ctx, ti.e.Stream)
	if err != nil {
		return fmt.Errorf("adapter/nats: topic %s: stream %s: %w", ti.e.Interface, ti.e.Stream, err)
	}
	next := st.CachedInfo().State.LastSeq + 1
	ti.a.wg.Add(1)
	go func() {
		defer ti.a.wg.Done()
		ti.run(t, next)
	}()
	return nil
}

// run bridges from stream sequence next on.
func (ti *topicIface) run(t *iface.Topic, next uint64) {
	ctx := ti.a.ctx
	backoff := retryBackoff
	for ctx.Err() == nil {
		cfg := jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{ti.e.Subject},
			DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:    next,
		}
		err := ti.bridge(ctx, t, cfg, &next)
		if ctx.Err() != nil {
			return
		}
		ti.a.o.log.Warn("adapter/nats: topic bridge interrupted; starting again", "interface", ti.e.Interface, "err", err)
		tm := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			tm.Stop()
			return
		case <-tm.C:
		}
		backoff = min(2*backoff, maxRetryBackoff)
	}
}

func (ti *topicIface) bridge(ctx context.Context, t *iface.Topic, cfg jetstream.OrderedConsumerConfig, next *uint64) error {
	oc, err := ti.a.js.OrderedConsumer(ctx, ti.e.Stream, cfg)
	if err != nil {
		return err
	}
	it, err := oc.Messages()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return err
		}
		v, err := delivery(m)
		if err != nil {
			ti.a.o.log.Warn("adapter/nats: a stored message is not JSON; not published to the topic", "interface", ti.e.Interface, "err", err)
			continue
		}
		if meta, err := m.Metadata(); err == nil {
			*next = meta.Sequence.Stream + 1
		}
		if _, err := t.Publish(ctx, ti.e.Type, v); err != nil && ctx.Err() == nil {
			ti.a.o.log.Warn("adapter/nats: a stored message fails its type; not published to the topic", "interface", ti.e.Interface, "err", err)
		}
		ti.a.st.delivered.Add(1)
	}
}
