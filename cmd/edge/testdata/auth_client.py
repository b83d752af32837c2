#!/usr/bin/python3
"""One python-socketio connect attempt, for ../auth_e2e_test.go.

Usage: auth_client.py URL AUTH_JSON

Connects to "/" with the auth payload AUTH_JSON. Prints one JSON line:
{"ev": "connect", "sid": ...} (then disconnects), or, when connect()
raises, {"ev": "error", "exception": its class's module and name,
"message": str(exc), "connect_error": the arguments the connect_error
handler received}. Exits 0 unless something else went wrong.
"""
import json
import sys

import socketio


def main():
    url, auth = sys.argv[1], json.loads(sys.argv[2])
    sio = socketio.Client(reconnection=False)
    seen = []

    @sio.event
    def connect_error(*args):
        seen.append(list(args))

    try:
        sio.connect(url, auth=auth, wait_timeout=10)
    except Exception as exc:  # the class is what the test checks
        cls = type(exc)
        print(json.dumps({
            "ev": "error",
            "exception": cls.__module__ + "." + cls.__name__,
            "message": str(exc),
            "connect_error": seen,
        }), flush=True)
        return
    print(json.dumps({"ev": "connect", "sid": sio.get_sid()}), flush=True)
    sio.disconnect()


if __name__ == "__main__":
    main()
