// Package mqtt serves an MQTT 5 broker through ifkit interfaces, as
// package adapter/nats serves JetStream, with QoS 1 mapped to credits:
//
//   - subscribe: a send interface per topic filter. Each connection has an
//     MQTT session of its own whose Receive Maximum is the interface's
//     credit window, so the broker has at most that many messages in
//     flight to it, and the adapter acknowledges (PUBACK) a message only
//     once the ifkit client's credit grants say it consumed it. By default
//     the connections share one subscription ($share/ifkit/FILTER): each
//     message goes to one of them. Each message is a Delivery with its
//     topic.
//   - publish: a recv interface per topic. Each message, checked against
//     its type before the adapter sees it, is published with QoS 1, and its
//     credit goes back to the client only once the broker's PUBACK says it
//     took it; one the broker refused is refused with the reason code.
//
// What MQTT cannot do, the adapter does not pretend to: MQTT has no
// negative acknowledgement, so a message delivered to a connection that
// ends before its client consumed it is not handed to another connection
// (the broker drops a clean session's messages in flight), and MQTT has
// no message ids, so a re-sent message is delivered twice. Use adapter/nats
// where those matter.
//
// Failures reach clients as ifkit codes: the broker gone is
// transport_error, a refused PUBLISH is limit_exceeded (quota, rate) or
// auth_failed (not authorized) or internal.
package mqtt
