// Package socketio implements the Socket.IO v5 protocol on top of package
// engineio: the packet codec (binary attachments included), namespaces,
// sockets, the local room index, and acknowledgements in both directions.
//
// It is the edge's in-process plumbing: Namespace hooks (Authenticate,
// OnConnect, OnEvent, OnDisconnect, room hooks) let the bus layer see what
// clients do, and Namespace/BroadcastOperator/Socket emit to them. The public
// API of Switchboard is the gRPC control plane, not this package.
//
// # Fan-out
//
// A packet sent to many sockets is encoded once (Encoded), and its frames are
// built once per transport by engineio, whatever the number of sockets.
//
// # Concurrency
//
// Messages of one connection are handled in order on one goroutine, so
// hooks for one socket never run concurrently (Authenticate, then OnConnect,
// OnEvent..., OnDisconnect). Hooks must not block for long: they hold up that
// connection. Emitting never blocks.
//
// # Namespaces
//
// A namespace registered with Of stays for the server's life. One created
// for a client's CONNECT (Config.AllowNamespace) counts its sockets and the
// CONNECTs in progress under the server's lock, and is deleted (OnDelete
// hooks run) when the count drops to zero: the names clients choose do not
// pile up. A connection joins at most Config.MaxNamespaces at once.
//
// Lock order: Server.mu, then Namespace.mu, then Socket.mu, then client.mu.
package socketio
