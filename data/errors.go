package data

// errorString is the type of the package's sentinel errors: constants, so
// no program can replace one.
type errorString string

func (e errorString) Error() string { return string(e) }

// Local errors: nothing crossed the wire. Match them with errors.Is.
const (
	// ErrWrongWay is returned by Send for a message type the local side may
	// not send: a client sending a server-to-client type, or the reverse.
	ErrWrongWay errorString = "ifkit: wrong direction"
	// ErrNotRequest is returned by Call for a type that declares no reply.
	ErrNotRequest errorString = "ifkit: not a request type"
	// ErrNoCredit is returned by Send on an interface whose flow policy is
	// "error" when the peer has granted no credit for another message.
	ErrNoCredit errorString = "ifkit: no credit: the receiver has not granted room for another message (flow policy: error)"
	// ErrDropped is returned by Send on an interface whose flow policy is
	// "drop_newest" when the message was dropped for lack of credit.
	ErrDropped errorString = "ifkit: message dropped: no credit (flow policy: drop_newest)"
)

// ErrRecvFuncBusy is returned by RecvFunc while another RecvFunc runs on
// the same connection.
const ErrRecvFuncBusy errorString = "ifkit: a RecvFunc already runs on this connection; one at a time"
