#!/usr/bin/python3
"""End-to-end client for ../e2e_test.go, with python-socketio's Client.

Usage: client.py URL [default|websocket]

Connects to "/" with auth {"token": "py"} (the default mode polls, then
upgrades), waits for the server's "server-event", emits "py-event" with a
callback the server acks, and disconnects. Prints one JSON object per line
({"ev": name, ...}, binary as {"$bin": base64}); exits non-zero on failure.
"""
import base64
import json
import sys
import threading

import socketio


def enc(v):
    if isinstance(v, (bytes, bytearray)):
        return {"$bin": base64.b64encode(v).decode()}
    if isinstance(v, (list, tuple)):
        return [enc(x) for x in v]
    if isinstance(v, dict):
        return {k: enc(x) for k, x in v.items()}
    return v


_out_lock = threading.Lock()


def out(ev, **fields):
    # Handlers run on the client's threads: one whole line at a time.
    line = json.dumps({"ev": ev, **enc(fields)}, ensure_ascii=False) + "\n"
    with _out_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def main():
    url = sys.argv[1]
    mode = sys.argv[2] if len(sys.argv) > 2 else "default"
    transports = ["websocket"] if mode == "websocket" else None

    sio = socketio.Client(reconnection=False)
    got_event = threading.Event()

    @sio.on("server-event")
    def on_server_event(*args):
        out("server-event", args=list(args))
        got_event.set()

    @sio.event
    def disconnect():
        out("disconnect")

    sio.connect(url, transports=transports, auth={"token": "py"}, wait_timeout=5)
    out("connect", sid=sio.get_sid(), transport=sio.transport())
    if not got_event.wait(5):
        raise RuntimeError("no server-event")
    res = sio.call("py-event", ("héllo 🐍", b"\x01\x02\x03", {"n": 1}), timeout=5)
    out("ack", args=list(res) if isinstance(res, tuple) else [res])
    sio.disconnect()
    out("end")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report, then fail the process
        out("fail", message=repr(e))
        sys.exit(1)
