package switchboardv1

import _ "embed"

// DescriptorSet is a google.protobuf.FileDescriptorSet of the API
// (proto/switchboard/v1; not the bus messages of switchboard.bus.v1) with its
// imports and source comments, written by `make generate` (`go tool buf build
// --as-file-descriptor-set`) next to the generated code.
//
// The descriptors compiled into this package carry no comments, so gRPC
// reflection built on them makes `grpcurl describe` print bare messages.
// Serve this set instead to show the API documentation:
//
//	var fds descriptorpb.FileDescriptorSet
//	_ = proto.Unmarshal(switchboardv1.DescriptorSet, &fds)
//	files, _ := protodesc.NewFiles(&fds)
//	opts := reflection.ServerOptions{Services: srv, DescriptorResolver: files}
//	grpc_reflection_v1.RegisterServerReflectionServer(srv, reflection.NewServerV1(opts))
//
//go:embed descriptor.binpb
var DescriptorSet []byte
