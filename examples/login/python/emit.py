"""The login example's cron job in Python: one emit through control, with
the Switchboard helper (switchboard_client.py beside it).

    PYTHONPATH=gen/python:examples/login/python /usr/bin/python3 \
        examples/login/python/emit.py 127.0.0.1:50051 message Hi [--to ROOM]

Exit status: 0 once control took the event; 1 when control refused it or
was not reached within 5 s (the reason on stderr); 2 for bad arguments.
"""

import argparse
import sys

import grpc

from switchboard_client import Switchboard


def main():
    p = argparse.ArgumentParser(description="emit one event through Switchboard's control")
    p.add_argument("control", help="control's gRPC address, host:port")
    p.add_argument("event")
    p.add_argument("data")
    p.add_argument("--to", help="a room; default: every socket of the namespace")
    p.add_argument("--namespace", default="/")
    a = p.parse_args()
    try:
        with Switchboard(a.control) as sb:
            sb.emit(a.event, a.data, to=a.to, namespace=a.namespace)
    except grpc.RpcError as e:
        print(f"emit: control {a.control}: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
