#!/bin/sh
# Existing pins outside YAML: tagpin refreshes them with --update.
set -eu
IMAGE=registry.example.com/web:1.0@sha256:0000000000000000000000000000000000000000000000000000000000000000
SIDECAR="busybox:1.36@sha256:d55432289a2f69dad7e00346d00e8d4df4d0053a44dffb3f8cf463f6e3fb4b04"
TEMPLATED=$REGISTRY/web:1.0@sha256:0000000000000000000000000000000000000000000000000000000000000000
kubectl run smoke --rm -it --image="$IMAGE" -- /smoke
docker run --rm redis:7.2 redis-cli ping   # unpinned: not touched outside YAML and Dockerfiles
