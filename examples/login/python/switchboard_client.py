"""A small emitter over Switchboard's control API, for code that used
Flask-SocketIO's external emitter:

    # before: Flask-SocketIO with a message queue
    socketio = SocketIO(message_queue="redis://")
    socketio.emit("message", "Hi", to=room)

    # after: Switchboard's control API (gRPC)
    sb = Switchboard("127.0.0.1:50051")
    sb.emit("message", "Hi", to=room)

It needs the generated stubs (gen/python on PYTHONPATH) and Debian's
python3-grpcio and python3-protobuf (docs/python.md). Each call is one
unary gRPC call with a deadline (timeout, seconds); an error of control's
(a bad event name, control unreachable) raises grpc.RpcError, whose
code() and details() say what.
"""

import json

import grpc

from switchboard.v1 import control_pb2 as pb
from switchboard.v1 import control_pb2_grpc


def _names(value):
    """None, one name, or an iterable of names -> a list of names."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


class Switchboard:
    """A connection to control's gRPC API at target ("host:port").

    Use it as a context manager, or call close(), to close the channel.
    """

    def __init__(self, target, timeout=5.0, credentials=None):
        if credentials is None:
            self._channel = grpc.insecure_channel(target)
        else:
            self._channel = grpc.secure_channel(target, credentials)
        self._stub = control_pb2_grpc.ControlStub(self._channel)
        self.timeout = timeout

    def emit(self, event, *args, to=None, room=None, skip_rooms=None, namespace="/", volatile=False):
        """Send event with args (each JSON-serializable) to every socket of
        namespace, or to those in the room(s) to (room is Flask-SocketIO's
        older name for it), but those in skip_rooms. Returns when control
        has taken the event; it does not wait for the clients, as
        Flask-SocketIO's emitter does not."""
        target = pb.Target(namespace=namespace, rooms=_names(to) + _names(room), except_rooms=_names(skip_rooms))
        self._stub.Emit(pb.EmitRequest(target=target, event=event, args_json=json.dumps(list(args)),
                                       volatile=volatile), timeout=self.timeout)

    def send(self, data, to=None, namespace="/"):
        """Flask-SocketIO's send(): a "message" event."""
        self.emit("message", data, to=to, namespace=namespace)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
