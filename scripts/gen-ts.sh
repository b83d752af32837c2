#!/usr/bin/env bash
# Regenerates gen/ts/ (TypeScript for Node services) from proto/switchboard/v1
# with buf.gen.ts.yaml; `make generate` runs it. The plugin,
# node_modules/.bin/protoc-gen-es, is pinned in package.json: `npm ci` (make
# test-deps) installs it. gen/ts/ is emptied first so that a file whose
# .proto is gone does not stay behind; the output depends only on proto/ and
# the pinned plugin version.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/protoc-gen-es ]; then
  echo "gen-ts: node_modules/.bin/protoc-gen-es is missing: run 'npm ci' (or make test-deps)" >&2
  exit 1
fi
rm -rf gen/ts
go tool buf generate --template buf.gen.ts.yaml
