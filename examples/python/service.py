#!/usr/bin/python3
"""A Switchboard service in Python: a small chat lobby that holds no sockets.

It talks only to control's gRPC API (switchboard.v1.Control), through the
stubs committed in gen/python (docs/python.md), and shows:

  * Subscribe: the events clients send (`socket.emit("join", ...)`);
  * JoinRoom, Emit to a room, ListSockets a page at a time, and Ack: a
    client's "join" {"room": r} puts its socket in room r, tells the room,
    and answers the client's ack callback with the room's members;
  * Pipeline: a client's "ask" {"room": r, "n": n} is answered with three commands on
    one stream, each tagged with an id, without waiting for one before
    sending the next: an emit of "asked" to the room, an emit_with_ack of
    "reply" to the asking socket, and an ack of the client's event. Their
    answers come back on another thread, tagged with the ids.

Run it (control on 127.0.0.1:50051 by default; `make run` starts one):

    PYTHONPATH=gen/python /usr/bin/python3 examples/python/service.py [host:port]

The address may also come from $SWITCHBOARD_CONTROL. It prints one JSON
object per line on stdout (what a test reads: "ready" once subscribed, then
each Pipeline answer) and logs to stderr. SIGTERM or Ctrl-C stops it
(status 0); losing control, or finding none, ends it with status 1.
"""

import itertools
import json
import os
import queue
import signal
import sys
import threading

import grpc
from google.protobuf import duration_pb2

from switchboard.v1 import control_pb2 as pb
from switchboard.v1 import control_pb2_grpc

NAMESPACE = "/"
# Sockets per ListSockets page (1 to 1,000). The test sets it to 1 so that
# listing two members crosses a page.
PAGE_SIZE = int(os.environ.get("SWITCHBOARD_PAGE_SIZE", "100"))
# Commands a Pipeline stream may leave unanswered; control reads no more past
# it. The request queue below holds as many, and its put blocks when full:
# the one overflow action is to slow the sender down.
PIPELINE_WINDOW = 1024


# Lines come from two threads (the main one and the Pipeline's reader):
# each is written whole.
_print_lock = threading.Lock()


def out(**fields):
    """Prints one JSON line on stdout."""
    with _print_lock:
        print(json.dumps(fields, sort_keys=True), flush=True)


def log(*args):
    with _print_lock:
        print("service:", *args, file=sys.stderr, flush=True)


def room_members(control, room, page_size=PAGE_SIZE):
    """Yields the sids of the room's sockets, in sid order, a page at a time."""
    token = ""
    while True:
        page = control.ListSockets(pb.ListSocketsRequest(
            namespace=NAMESPACE, room=room, page_size=page_size, page_token=token), timeout=5)
        yield from (s.sid for s in page.sockets)
        if page.missing_edges:
            log("ListSockets: edges missing, the list may be short:", list(page.missing_edges))
        token = page.next_page_token
        if not token:
            return


class Pipeline:
    """One Pipeline stream: send() tags each command with an id and returns
    at once; a thread reads the answers and hands each to on_answer with
    what was sent under its id. When the stream fails (control gone), it
    calls on_broken and takes no more commands."""

    def __init__(self, control, on_answer, on_broken):
        self._requests = queue.Queue(maxsize=PIPELINE_WINDOW)
        self._ids = itertools.count(1)
        self._sent = {}  # id -> what the caller said about the command; guarded by _lock
        self._lock = threading.Lock()
        self._on_answer = on_answer
        self._on_broken = on_broken
        self.broken = False  # set by the reader thread before on_broken
        # The request stream is this iterator: it ends at the None close() puts.
        self._answers = control.Pipeline(iter(self._requests.get, None))
        self._reader = threading.Thread(target=self._read, name="pipeline-reader")
        self._reader.start()

    def send(self, what, **command):
        """Sends one command (emit=..., emit_with_ack=..., ack=..., ...);
        returns its id."""
        if self.broken:
            raise RuntimeError("the Pipeline stream has ended")
        cid = next(self._ids)
        with self._lock:
            self._sent[cid] = what
        self._requests.put(pb.PipelineRequest(id=cid, **command))
        return cid

    def close(self):
        """Ends the request stream and waits until every command sent has
        its answer (control answers them all before it ends the stream)."""
        if not self.broken:
            self._requests.put(None)
        self._reader.join()

    def cancel(self):
        """Ends the stream at once: commands not answered yet get no answer."""
        self._answers.cancel()
        self._reader.join()

    def _read(self):
        try:
            for answer in self._answers:
                with self._lock:
                    what = self._sent.pop(answer.id, None)
                self._on_answer(answer, what)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.CANCELLED:
                log("Pipeline ended:", err.code().name, err.details())
                self.broken = True
                self._on_broken()


def on_pipeline_answer(answer, what):
    """Called on the Pipeline's reader thread, in the order answers come."""
    kind = answer.WhichOneof("result")
    if kind == "error":
        out(ev="answer", id=answer.id, what=what, error=answer.error.message, code=answer.error.code)
    elif kind == "emit_with_ack":
        r = answer.emit_with_ack
        out(ev="answer", id=answer.id, what=what,
            acks={a.sid: json.loads(a.args_json) for a in r.acks}, timed_out=list(r.timed_out_sids))
    elif kind == "emit":
        # Empty unless the emit asked for a report, as this one did.
        out(ev="answer", id=answer.id, what=what, sockets=answer.emit.sockets)
    else:
        out(ev="answer", id=answer.id, what=what, kind=kind)


def on_join(control, ev):
    """A client's `socket.emitWithAck("join", {room})`."""
    room = json.loads(ev.args_json)[0]["room"]
    control.JoinRoom(pb.JoinRoomRequest(target=pb.Target(namespace=NAMESPACE, sids=[ev.sid]), rooms=[room]), timeout=5)
    # JoinRoom returned once the edges had done it, so this reaches the new member too.
    control.Emit(pb.EmitRequest(target=pb.Target(namespace=NAMESPACE, rooms=[room]), event="announce",
                                args_json=json.dumps([{"joined": ev.sid, "room": room}])), timeout=5)
    if ev.ack_token:
        members = list(room_members(control, room))
        control.Ack(pb.AckRequest(ack_token=ev.ack_token, args_json=json.dumps([{"room": room, "members": members}])),
                    timeout=5)


def on_ask(pipeline, ev):
    """A client's `socket.emit("ask", {room, n}, callback)`: three commands, not awaited."""
    ask = json.loads(ev.args_json)[0]
    room, n = ask["room"], ask["n"]
    pipeline.send(f"asked {n}", emit=pb.EmitRequest(
        target=pb.Target(namespace=NAMESPACE, rooms=[room]), event="asked",
        args_json=json.dumps([{"sid": ev.sid, "n": n}]), report=True))
    pipeline.send(f"reply {n}", emit_with_ack=pb.EmitWithAckRequest(
        target=pb.Target(namespace=NAMESPACE, sids=[ev.sid]), event="reply",
        args_json=json.dumps([{"n": n, "square": n * n}]), timeout=duration_pb2.Duration(seconds=5)))
    if ev.ack_token:
        pipeline.send(f"ack {n}", ack=pb.AckRequest(ack_token=ev.ack_token, args_json=json.dumps([{"n": n, "ok": True}])))


def main():
    address = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SWITCHBOARD_CONTROL", "127.0.0.1:50051")
    with grpc.insecure_channel(address) as channel:
        control = control_pb2_grpc.ControlStub(channel)
        events = control.Subscribe(pb.SubscribeRequest(
            namespaces=[NAMESPACE], events=["join", "ask"], kinds=[pb.EVENT_KIND_CLIENT_EVENT]))
        # Stop by cancelling the stream: the loop below then ends.
        signal.signal(signal.SIGTERM, lambda *_: events.cancel())
        signal.signal(signal.SIGINT, lambda *_: events.cancel())
        # Control sends the stream's headers once its bus subscriptions are
        # made: from here on no client event is missed.
        events.initial_metadata()
        pipeline = Pipeline(control, on_pipeline_answer, on_broken=events.cancel)
        out(ev="ready")
        try:
            for msg in events:
                ev = msg.client_event
                try:
                    if ev.event == "join":
                        on_join(control, ev)
                    elif ev.event == "ask":
                        on_ask(pipeline, ev)
                except (grpc.RpcError, RuntimeError, ValueError, LookupError, TypeError) as err:
                    # A call that failed, or an event whose arguments are not
                    # what we expect: log it and go on with the next event.
                    log(f"{ev.event} from {ev.sid}: {err!r}")
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.CANCELLED:
                log("Subscribe ended:", err.code().name, err.details())
                pipeline.cancel()
                return 1
        pipeline.close()
    return 1 if pipeline.broken else 0


if __name__ == "__main__":
    sys.exit(main())
