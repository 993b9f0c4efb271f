// Package nats serves NATS JetStream through ifkit interfaces: typed,
// self-describing streams whose flow control reaches from an ifkit
// client's reading speed back to the queue. Its Config (YAML or JSON; see
// DefaultConfigYAML) names the JetStream streams, the message types (JSON
// Schemas) and three kinds of interface:
//
//   - consume: a send interface per durable pull consumer. The adapter
//     fetches from the consumer only as many messages as the client has
//     credit for (data.Conn.WaitCredit), and acknowledges a message to
//     JetStream only once the client's credit grants say it has consumed
//     it (data.Conn.WaitPeerConsumed). A connection that ends first hands
//     back what its client had not consumed (nak), to be delivered again:
//     at least once, end to end. Each message is a Delivery carrying its
//     stream sequence, and the control operation reset moves the consumer
//     (seq:N, time:RFC3339, first, last, new).
//   - publish: a recv interface per subject. Each message, checked against
//     its type by the data plane before the adapter sees it, is published
//     and its credit goes back to the client only once JetStream has
//     acknowledged storing it; one JetStream did not store is refused with
//     the reason. Its id (Nats-Msg-Id) comes from the fields msg_id names
//     (or a MsgIDFunc), so a message re-sent within the stream's duplicate
//     window is stored once.
//   - topics: a send interface (an iface.Topic) fed by an ordered consumer
//     of a subject: every ifkit server configured with it gives its
//     subscribers every message stored there, so servers on different
//     hosts share one topic through a JetStream cluster.
//
// With no server to use, StartEmbedded runs one in this process, with
// JetStream in a folder of its own.
//
// NATS and JetStream failures reach clients as ifkit codes (CodeOf): a
// stream or consumer that does not exist, or was deleted, is not_found;
// JetStream away (restarting, unreachable, not answering in time) is
// transport_error, which a consuming connection waits out for up to
// WithOutage before it ends with it; a message over the server's payload
// limit is message_too_large; a request JetStream rejects is
// invalid_message; anything else is internal.
package nats
