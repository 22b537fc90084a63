#!/usr/bin/env bash
# Builds a local Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager) from the Go module proxy, once, and prints the
# directory holding them on stdout (and nothing else), for
#
#	export KUBEBUILDER_ASSETS=$(bash hack/controlplane.sh)
#
# K8S_VERSION picks the Kubernetes minor release: 1.37 (the default) or 1.35,
# one module directory each, hack/controlplane/k8s-$K8S_VERSION/. The exact
# versions come from its go.mod (Kubernetes) and etcd/go.mod (etcd); the builds
# use those files and their go.sum as committed (-mod=readonly), never rewriting
# them. Binaries are cached under
# $TAGPIN_CACHE/controlplane/k8s-<version>-etcd-<version>/ and written under a
# temporary name first, so an interrupted build leaves no half binary.
#
# With --built, it builds nothing: it prints the directory and fails when the
# binaries are not all there (the Go test harness, internal/controlplanetest,
# asks this to skip tests rather than build for minutes).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/lib.sh
. "$ROOT/hack/lib.sh" # sets CACHE

# The default Kubernetes minor release; keep in step with docs/development.md.
K8S_MINOR_RELEASE=${K8S_VERSION:-1.37}
K8S_MOD="$ROOT/hack/controlplane/k8s-$K8S_MINOR_RELEASE"
ETCD_MOD="$K8S_MOD/etcd"
if [ ! -f "$K8S_MOD/go.mod" ] || [ ! -f "$ETCD_MOD/go.mod" ]; then
	echo "controlplane: K8S_VERSION=$K8S_MINOR_RELEASE is not supported; the versions are:" \
		"$(cd "$ROOT/hack/controlplane" && ls -d k8s-* | sed 's/^k8s-//' | tr '\n' ' ')" >&2
	exit 1
fi

# modver DIR MODULE prints the version of MODULE required by DIR/go.mod.
modver() {
	local v
	v=$(awk -v m="$2" '($1 == "require" && $2 == m) { print $3; exit } ($1 == m) { print $2; exit }' "$1/go.mod")
	[ -n "$v" ] || { echo "controlplane: $2 not required in $1/go.mod" >&2; exit 1; }
	echo "$v"
}

K8S_GIT_VERSION=$(modver "$K8S_MOD" k8s.io/kubernetes)         # e.g. v1.37.2
ETCD_VERSION=$(modver "$ETCD_MOD" go.etcd.io/etcd/server/v3) # e.g. v3.7.0
K8S_MAJOR=${K8S_GIT_VERSION#v}
K8S_MAJOR=${K8S_MAJOR%%.*}
K8S_MINOR=${K8S_GIT_VERSION#v*.}
K8S_MINOR=${K8S_MINOR%%.*}
if [ "$K8S_MAJOR.$K8S_MINOR" != "$K8S_MINOR_RELEASE" ]; then
	echo "controlplane: $K8S_MOD/go.mod requires k8s.io/kubernetes $K8S_GIT_VERSION, not $K8S_MINOR_RELEASE" >&2
	exit 1
fi

DIR="$CACHE/controlplane/k8s-${K8S_GIT_VERSION#v}-etcd-${ETCD_VERSION#v}"

have_all() {
	local b
	for b in etcd kube-apiserver kube-controller-manager; do
		[ -x "$DIR/$b" ] || return 1
	done
}

if [ "${1:-}" = --built ]; then
	echo "$DIR"
	have_all
fi

if ! have_all; then
	mkdir -p "$DIR"
	# Serialise concurrent callers (e.g. make -j); the loser finds the binaries.
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$DIR/.lock"
		flock 9
		rm -rf "$DIR"/.tmp.* # left by a killed build
	fi
	TMPD=$(mktemp -d "$DIR/.tmp.XXXXXX")
	trap 'rm -rf "$TMPD"' EXIT

	# Ignore the caller's GOFLAGS (-mod=mod would rewrite go.mod, -race or
	# -tags would change the binaries), go.work and cross-compile settings.
	export GOFLAGS=-mod=readonly GOWORK=off CGO_ENABLED=0
	unset GOOS GOARCH

	k8s_ldflags="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		k8s_ldflags+=" -X $pkg.gitVersion=$K8S_GIT_VERSION"
		k8s_ldflags+=" -X $pkg.gitMajor=$K8S_MAJOR -X $pkg.gitMinor=$K8S_MINOR"
	done

	# build NAME VERSION ESTIMATE MODDIR PKG LDFLAGS
	build() {
		local name=$1 version=$2 estimate=$3 moddir=$4 pkg=$5 ldflags=$6 start=$SECONDS
		[ -x "$DIR/$name" ] && return 0
		echo "==> building $name $version (once, ~$estimate)…" >&2
		go build -C "$moddir" -trimpath -ldflags "$ldflags" -o "$TMPD/$name" "$pkg" >&2
		mv -f "$TMPD/$name" "$DIR/$name"
		echo "    $name built in $((SECONDS - start))s" >&2
	}

	build etcd "$ETCD_VERSION" "1 min" "$ETCD_MOD" go.etcd.io/etcd/server/v3 "-s -w"
	build kube-apiserver "$K8S_GIT_VERSION" "4 min" "$K8S_MOD" k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
	build kube-controller-manager "$K8S_GIT_VERSION" "2 min" "$K8S_MOD" \
		k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
fi

echo "$DIR"
