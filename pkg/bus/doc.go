// Package bus owns Switchboard's NATS contract: the subjects (and how names
// become subject tokens), typed protobuf payloads (proto/switchboard/v1/
// bus.proto), and interest-based subscriptions. docs/bus.md documents it.
//
// It does not know Socket.IO or gRPC: the edge and control packages give it
// meaning.
package bus
