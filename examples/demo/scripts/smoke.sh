#!/bin/sh
# An existing pin outside YAML: tagpin refreshes it with --update.
IMAGE=REGISTRY/web:1.0@sha256:0000000000000000000000000000000000000000000000000000000000000000
exec kubectl run smoke --rm -it --image="$IMAGE" -- /smoke
