# Protobuf API: proto/ → gen/ (committed; gen/gen_test.go checks it is up to
# date). Included by the main Makefile. buf and the protoc plugins are pinned by
# go.mod `tool` directives, so these targets need nothing but Go.

# Descriptor set with source comments, embedded as switchboardv1.DescriptorSet
# and served by control's gRPC reflection so `grpcurl describe` shows the docs.
PROTO_DESCRIPTOR_SET := gen/switchboard/v1/descriptor.binpb

.PHONY: generate buf-lint

## generate: regenerate gen/ from proto/: Go, Python (gen/python) and TypeScript (gen/ts) stubs (commit the result)
generate: node_modules/.package-lock.json
	go tool buf generate
	go tool buf build --path proto/switchboard/v1 --as-file-descriptor-set -o $(PROTO_DESCRIPTOR_SET)
	bash scripts/gen-python.sh
	bash scripts/gen-ts.sh

## buf-lint: lint proto/ (STANDARD + COMMENTS, see buf.yaml)
buf-lint:
	go tool buf lint
