#!/usr/bin/env bash
# make demo-pin: pin a sample directory against a local Distribution registry.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

need_registry
echo "==> building tagpin"
go build -o bin/tagpin ./cmd/tagpin
go build -o "$CACHE/bin/seed" ./hack/seed

WORK=$(mktemp -d)
REGISTRY_PID=""
cleanup() {
	local status=$?
	if [ -n "$REGISTRY_PID" ]; then
		kill "$REGISTRY_PID" 2>/dev/null || true
		wait "$REGISTRY_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(free_port 5000)
REG="127.0.0.1:$PORT"
start_registry "$WORK/registry" "$PORT"
FLAGS=(--allow-registry "$REG" --insecure-registry "$REG")

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
seed() { "$CACHE/bin/seed" -registry "$REG" "$@" >/dev/null; }

step "a local Distribution registry at $REG with some images"
seed web:1.0 proxy:2.4 tools:latest worker:latest redis:7+multi golang:1.26 distroless:nonroot
echo "pushed web:1.0 proxy:2.4 tools:latest worker:latest redis:7 (linux/amd64+arm64) golang:1.26 distroless:nonroot"

cp -r examples/demo "$WORK/before"
find "$WORK/before" -type f -exec sed -i "s#REGISTRY#$REG#g" {} +
cp -r "$WORK/before" "$WORK/repo"
cd "$WORK/repo"

step "resolve a tag"
run "$OLDPWD/bin/tagpin" resolve "${FLAGS[@]}" "$REG/web:1.0" "$REG/redis:7"

step "CI check before pinning: unpinned references fail the build (exit 2)"
set +e
run "$OLDPWD/bin/tagpin" pin --check "${FLAGS[@]}" .
echo "exit status $?"
set -e

step "pin every file in the directory"
run "$OLDPWD/bin/tagpin" pin "${FLAGS[@]}" .
step "what changed (name and tag kept, every other byte untouched)"
diff -ru --label before --label after "$WORK/before" . | sed "s#$WORK/##g" || true

step "someone pushes a new web:1.0: the pins are now stale"
seed web:1.0
set +e
run "$OLDPWD/bin/tagpin" pin --check "${FLAGS[@]}" .
echo "exit status $?"
set -e

step "refresh stale pins"
cp -r . "$WORK/pinned"
run "$OLDPWD/bin/tagpin" pin --update "${FLAGS[@]}" .
diff -ru --label pinned --label refreshed "$WORK/pinned" . | sed "s#$WORK/##g" || true

step "pipes work too"
printf 'image: %s/web:1.0\n' "$REG" | run "$OLDPWD/bin/tagpin" pin "${FLAGS[@]}" -

step "done; the registry and the work directory are removed"
