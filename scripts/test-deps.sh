#!/usr/bin/env bash
# Installs the system packages the tests use, once: Debian's python3-socketio
# (the Python client test runs /usr/bin/python3 with it) and chromium (the
# browser test). Quick when present.
set -euo pipefail

need=()
/usr/bin/python3 -c 'import socketio, websocket, requests' 2>/dev/null || need+=(python3-socketio python3-websocket python3-requests)
# Headless Chromium for the demo page's browser test (driven by playwright-core
# from npm, which never downloads a browser of its own).
[ -x /usr/bin/chromium ] || need+=(chromium)
# Python gRPC stubs (gen/python, docs/python.md): Debian's generator, pinned
# by scripts/gen-python.sh, and the runtime of the same versions.
/usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null || need+=(python3-grpcio python3-protobuf)
{ command -v protoc && [ -x /usr/bin/grpc_python_plugin ] && [ -f /usr/include/google/protobuf/struct.proto ]; } >/dev/null 2>&1 ||
  need+=(protobuf-compiler protobuf-compiler-grpc libprotobuf-dev)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "test-deps: installing ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
