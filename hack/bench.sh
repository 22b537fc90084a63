#!/usr/bin/env bash
# make bench: run every benchmark once and print its figures. Nothing here
# is asserted; numbers depend on the machine (CI and dev boxes: 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> $(nproc) cores, $(go version | cut -d' ' -f3), $(date -u +%Y-%m-%dT%H:%MZ)"
go test -run='^$' -bench=. -benchtime=1x -timeout=30m ./test/bench/ | grep -v '^\(goos\|goarch\|pkg\|cpu\|PASS\|ok\)'
