package bus

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
)

// Publish marshals m and publishes it on subject.
func Publish(nc *nats.Conn, subject string, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("bus: marshal %T: %w", m, err)
	}
	return nc.Publish(subject, b)
}

// PublishRequest publishes m on subject with a reply subject.
func PublishRequest(nc *nats.Conn, subject, reply string, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("bus: marshal %T: %w", m, err)
	}
	return nc.PublishRequest(subject, reply, b)
}

// Request sends m and decodes the single reply into out.
func Request(ctx context.Context, nc *nats.Conn, subject string, m, out proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("bus: marshal %T: %w", m, err)
	}
	msg, err := nc.RequestWithContext(ctx, subject, b)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(msg.Data, out); err != nil {
		return fmt.Errorf("bus: unmarshal %T: %w", out, err)
	}
	return nil
}

// Respond answers a request message with m; it does nothing without a reply
// subject.
func Respond(msg *nats.Msg, m proto.Message) error {
	if msg.Reply == "" {
		return nil
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("bus: marshal %T: %w", m, err)
	}
	return msg.Respond(b)
}
