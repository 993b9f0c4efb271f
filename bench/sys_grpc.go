package main

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// grpcSystem is gRPC-go bidi streaming with default options: a service
// declared by hand (no protoc) whose one method is a bidi stream of
// google.protobuf.BytesValue. Each link is its own ClientConn (socket) with
// one stream on it. The server end streams to the client for throughput and
// echoes each message it receives for round trips (ping-pong on the open
// stream, gRPC's fastest request/response).
type grpcSystem struct{}

func (grpcSystem) Name() string { return "grpc" }

const grpcMethod = "/ifkit.bench.v1.Bench/Stream"

var grpcDesc = grpc.ServiceDesc{
	ServiceName: "ifkit.bench.v1.Bench",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "Stream",
		ServerStreams: true,
		ClientStreams: true,
		Handler:       func(srv any, ss grpc.ServerStream) error { return srv.(*grpcServer).handle(ss) },
	}},
	Metadata: "bench",
}

type grpcServer struct {
	srv     *grpc.Server
	target  string
	cleanup func()
	streams chan grpc.ServerStream
	served  chan error
}

func (grpcSystem) Start(transport string) (server, error) {
	l, cleanup, err := listen(transport)
	if err != nil {
		return nil, err
	}
	s := &grpcServer{
		srv:     grpc.NewServer(),
		cleanup: cleanup,
		streams: make(chan grpc.ServerStream, 1),
		served:  make(chan error, 1),
	}
	if transport == "unix" {
		s.target = "unix://" + l.Addr().String()
	} else {
		s.target = "passthrough:///" + l.Addr().String()
	}
	s.srv.RegisterService(&grpcDesc, s)
	go func() { s.served <- s.srv.Serve(l) }()
	return s, nil
}

// handle hands the stream to the opener, then echoes until the stream ends.
func (s *grpcServer) handle(ss grpc.ServerStream) error {
	s.streams <- ss
	var v wrapperspb.BytesValue
	for {
		if err := ss.RecvMsg(&v); err != nil {
			return nil
		}
		if err := ss.SendMsg(&v); err != nil {
			return nil
		}
	}
}

func (s *grpcServer) Open(ctx context.Context) (link, error) {
	cc, err := grpc.NewClient(s.target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	cs, err := cc.NewStream(sctx, &grpcDesc.Streams[0], grpcMethod)
	if err != nil {
		cancel()
		cc.Close()
		return nil, err
	}
	select {
	case ss := <-s.streams:
		return &grpcLink{cc: cc, cs: cs, ss: ss, cancel: cancel}, nil
	case <-ctx.Done():
		cancel()
		cc.Close()
		return nil, ctx.Err()
	}
}

func (s *grpcServer) Close() error {
	s.srv.Stop()
	err := <-s.served
	s.cleanup()
	if err == grpc.ErrServerStopped {
		err = nil
	}
	return err
}

type grpcLink struct {
	cc     *grpc.ClientConn
	cs     grpc.ClientStream
	ss     grpc.ServerStream
	cancel context.CancelFunc
	in     wrapperspb.BytesValue
}

func (l *grpcLink) Stream(ctx context.Context, payload []byte, n int) error {
	msg := wrapperspb.Bytes(payload)
	sent := make(chan error, 1)
	go func() {
		for range n {
			if err := l.ss.SendMsg(msg); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for range n {
		if err := l.cs.RecvMsg(&l.in); err != nil {
			return err
		}
	}
	return <-sent
}

func (l *grpcLink) RoundTrip(ctx context.Context, payload []byte) error {
	if err := l.cs.SendMsg(wrapperspb.Bytes(payload)); err != nil {
		return err
	}
	if err := l.cs.RecvMsg(&l.in); err != nil {
		return err
	}
	if len(l.in.Value) != len(payload) {
		return fmt.Errorf("grpc: reply of %d bytes to %d", len(l.in.Value), len(payload))
	}
	return nil
}

func (l *grpcLink) Close() error {
	l.cancel()
	return l.cc.Close()
}
