#!/usr/bin/python3
"""The echo example's service in Python: Flask-SocketIO's example app
(namespace /test) answered through Switchboard's control API, with the
generated stubs of gen/python (docs/python.md) on Debian's python3-grpcio.

It does what ../go does, event for event, but serves no page: run the Go
page server with --no-service for the page, the client and the proxy to the
edges (../README.md).

  * connect: my_response {data: "Server connected", count: 0} to the socket;
  * my_event {data}: my_response {data, count} with an ack asked of the
    client (the original's emit(..., callback=...)), the ack logged when it
    comes; count is the socket's message count, kept in the socket's data
    and counted by its edge (SetSocketData's increment), so any replica of
    the service may answer and a burst's events each get their own count;
  * my_broadcast_event, join, leave, my_room_event, disconnect_request,
    my_ping (acked): the original's siblings;
  * disconnect: the sid logged.

Every command goes through one Pipeline stream, in the order of the events.
The count comes in the answer of the SetSocketData command: the reply is
sent when it comes, and the replies to one socket are sent in the order of
its events however the answers come back.

Run it (from the repository root; control on 127.0.0.1:50051 by default):

    PYTHONPATH=gen/python /usr/bin/python3 examples/echo/python/echo.py --control 127.0.0.1:50051

It prints one JSON object per line on stdout, keyed as the Go service's log
("msg": "subscribed", "connected", "ack received", "client disconnected",
...). SIGTERM or Ctrl-C stops it (status 0); losing control, or finding
none, ends it with status 1.
"""

import argparse
import collections
import itertools
import json
import os
import queue
import signal
import sys
import threading

import grpc

from switchboard.v1 import control_pb2 as pb
from switchboard.v1 import control_pb2_grpc

NAMESPACE = "/test"
# Commands a Pipeline stream may leave unanswered; control reads no more past
# it. The request queue holds as many, and its put blocks when full: the one
# overflow action is to slow the event loop down.
PIPELINE_WINDOW = 1024

_print_lock = threading.Lock()  # lines come from the main and the reader thread


def log(msg, level="INFO", **fields):
    """Prints one JSON line on stdout."""
    with _print_lock:
        print(json.dumps({"level": level, "msg": msg, **fields}, sort_keys=True), flush=True)


class Pipeline:
    """One Pipeline stream. send() tags each command with an id and returns
    at once; a reader thread takes the answers, which come as commands
    complete, not in order. A command sent with a function `then` has it
    called with its answer (unless that is an error, which is logged),
    after the functions of the commands sent before it with the same key,
    on the reader thread."""

    def __init__(self, control, on_broken):
        self._requests = queue.Queue(maxsize=PIPELINE_WINDOW)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # guards the two below
        self._pending = {}  # id -> [key, then, answer or None]
        self._by_key = collections.defaultdict(collections.deque)  # key -> its pending, in send order
        self._on_broken = on_broken
        self.broken = False  # set by the reader thread before on_broken
        self._answers = control.Pipeline(iter(self._requests.get, None))  # None ends it
        self._reader = threading.Thread(target=self._read, name="pipeline-reader")
        self._reader.start()

    def send(self, key=None, then=None, **command):
        if self.broken:
            raise RuntimeError("the Pipeline stream has ended")
        cid = next(self._ids)
        if then is not None:
            entry = [key, then, None]
            with self._lock:
                self._pending[cid] = entry
                self._by_key[key].append(entry)
        self._requests.put(pb.PipelineRequest(id=cid, **command))

    def close(self):
        """Ends the request stream; control answers every command still
        pending, then ends the stream."""
        if not self.broken:
            self._requests.put(None)
        self._reader.join()

    def cancel(self):
        self._answers.cancel()
        self._reader.join()

    def _ready(self, answer):
        """Records answer; the entries whose functions may run now, in order."""
        with self._lock:
            entry = self._pending.pop(answer.id, None)
            if entry is None:
                return []
            entry[2] = answer
            q = self._by_key[entry[0]]
            out = []
            while q and q[0][2] is not None:
                out.append(q.popleft())
            if not q:
                del self._by_key[entry[0]]
            return out

    def _read(self):
        try:
            for answer in self._answers:
                if answer.WhichOneof("result") == "error":
                    log("command failed", "WARN", id=answer.id, code=answer.error.code, message=answer.error.message)
                for _, then, a in self._ready(answer):
                    if a.WhichOneof("result") != "error":
                        try:
                            then(a)
                        except RuntimeError as err:  # the stream ended meanwhile
                            log("not answered", "WARN", err=str(err))
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.CANCELLED:
                log("Pipeline ended", "ERROR", code=err.code().name, details=err.details())
                self.broken = True
                self._on_broken()


def to(sid):
    return pb.Target(namespace=NAMESPACE, sids=[sid])


def reply(data, count):
    return json.dumps([{"data": data, "count": count}])


class Echo:
    """The Flask-SocketIO app's handlers."""

    def __init__(self, pipeline):
        self.p = pipeline

    def emit(self, target, data, count):
        self.p.send(emit=pb.EmitRequest(target=target, event="my_response", args_json=reply(data, count)))

    def count(self, sid, then):
        """session['receive_count'] += 1, on the socket's data; then(count)
        in the order of the socket's events."""
        def counted(answer):
            data = answer.set_socket_data.data_json
            if not data:  # the socket is gone
                log("not counted", sid=sid, sockets=answer.set_socket_data.sockets)
                return
            then(json.loads(data)["count"])
        self.p.send(key=sid, then=counted, set_socket_data=pb.SetSocketDataRequest(
            target=to(sid), increment={"count": 1}))

    def connected(self, sid):
        log("connected", sid=sid)
        self.emit(to(sid), "Server connected", 0)

    def handle(self, ev):
        """One client event. Arguments that are not the object the page
        sends are taken as empty fields."""
        try:
            args = json.loads(ev.args_json)
            msg = args[0] if args and isinstance(args[0], dict) else {}
        except ValueError:
            msg = {}
        data, room = str(msg.get("data", "")), str(msg.get("room", ""))
        sid = ev.sid
        if ev.event == "my_event":
            def answer(n):
                def acked(a):
                    if a.emit_with_ack.acks:
                        log("ack received", sid=sid, count=n, data=data)
                    else:
                        log("no ack", "WARN", sid=sid, count=n, timed_out=list(a.emit_with_ack.timed_out_sids))
                # Keyed apart from the counts: acks are logged in order
                # without holding the next counts back for the client.
                self.p.send(key="ack " + sid, then=acked, emit_with_ack=pb.EmitWithAckRequest(
                    target=to(sid), event="my_response", args_json=reply(data, n)))
            self.count(sid, answer)
        elif ev.event == "my_broadcast_event":
            self.count(sid, lambda n: self.emit(pb.Target(namespace=NAMESPACE, all=True), data, n))
        elif ev.event == "join":
            self.p.send(join_room=pb.JoinRoomRequest(target=to(sid), rooms=[room]))
            self.count(sid, lambda n: self.emit(to(sid), "Joined room: " + room, n))
        elif ev.event == "leave":
            self.p.send(leave_room=pb.LeaveRoomRequest(target=to(sid), rooms=[room]))
            self.count(sid, lambda n: self.emit(to(sid), "Left room: " + room, n))
        elif ev.event == "my_room_event":
            self.count(sid, lambda n: self.emit(pb.Target(namespace=NAMESPACE, rooms=[room]), data, n))
        elif ev.event == "disconnect_request":
            def bye(n):
                self.emit(to(sid), "Disconnected!", n)
                self.p.send(disconnect=pb.DisconnectRequest(target=to(sid)))
            self.count(sid, bye)
        elif ev.event == "my_ping" and ev.ack_token:
            self.p.send(ack=pb.AckRequest(ack_token=ev.ack_token))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--control", default=os.environ.get("SWITCHBOARD_CONTROL", "127.0.0.1:50051"),
                    help="control's gRPC address (default $SWITCHBOARD_CONTROL or 127.0.0.1:50051)")
    opts = ap.parse_args()
    with grpc.insecure_channel(opts.control) as channel:
        control = control_pb2_grpc.ControlStub(channel)
        events = control.Subscribe(pb.SubscribeRequest(namespaces=[NAMESPACE], kinds=[
            pb.EVENT_KIND_CLIENT_EVENT, pb.EVENT_KIND_CONNECT, pb.EVENT_KIND_DISCONNECT]))
        signal.signal(signal.SIGTERM, lambda *_: events.cancel())
        signal.signal(signal.SIGINT, lambda *_: events.cancel())
        try:
            events.initial_metadata()  # control is subscribed once the headers came
            pipeline = Pipeline(control, on_broken=events.cancel)
        except grpc.RpcError as err:
            log("Subscribe ended", "ERROR", code=err.code().name, details=err.details())
            return 1
        echo = Echo(pipeline)
        log("subscribed", namespace=NAMESPACE)
        try:
            for msg in events:
                kind = msg.WhichOneof("event")
                try:
                    if kind == "connected":
                        echo.connected(msg.connected.socket.sid)
                    elif kind == "disconnected":
                        log("client disconnected", sid=msg.disconnected.sid, reason=msg.disconnected.reason)
                    elif kind == "client_event":
                        echo.handle(msg.client_event)
                except RuntimeError as err:  # the Pipeline ended: the loop ends too
                    log("not answered", "WARN", err=str(err))
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.CANCELLED:
                log("Subscribe ended", "ERROR", code=err.code().name, details=err.details())
                pipeline.cancel()
                return 1
        pipeline.close()
    return 1 if pipeline.broken else 0


if __name__ == "__main__":
    sys.exit(main())
