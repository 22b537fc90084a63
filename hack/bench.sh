#!/usr/bin/env bash
# make bench: run every benchmark once and print its figures. Nothing here
# is asserted; numbers depend on the machine (CI and dev boxes: 2 cores).
# BenchmarkKubeScale seeds 100k revision pins, 50k tags and 2k large
# Secrets into a real kube-apiserver (about a quarter of an hour on 2
# cores); TAGPIN_BENCH_SCALE=0.1 runs it at a tenth of that.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> $(nproc) cores, $(go version | cut -d' ' -f3), $(date -u +%Y-%m-%dT%H:%MZ)"
filter() { grep -v '^\(goos\|goarch\|pkg\|cpu\|PASS\|ok\)'; }
go test -run='^$' -bench=. -skip='^BenchmarkKubeScale$' -benchtime=1x -timeout=30m ./test/bench/ | filter
start=$SECONDS
go test -run='^$' -bench='^BenchmarkKubeScale$' -benchtime=1x -timeout=60m ./test/bench/ | filter
echo "==> BenchmarkKubeScale (scale ${TAGPIN_BENCH_SCALE:-1}): $((SECONDS - start)) s"
