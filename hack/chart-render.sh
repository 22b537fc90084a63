#!/usr/bin/env bash
# Writes deploy/tagpin.yaml (or the file given): the Helm chart
# charts/tagpin rendered with its defaults, release tagpin in namespace
# tagpin, for kubectl apply. make generate runs it; make check-generated
# compares its output with the committed file.
#
# Helm comes from the tools module (go tool builds it into the Go build
# cache once). --kube-version: Helm built with go tool assumes 1.20.
set -euo pipefail
out=${1:-deploy/tagpin.yaml}
KUBE_VERSION=${KUBE_VERSION:-1.37.0}
cd "$(dirname "$0")/.."
rendered=$(go tool -modfile=hack/tools/go.mod helm template tagpin charts/tagpin \
	--namespace tagpin --include-crds --kube-version "$KUBE_VERSION")
mkdir -p "$(dirname "$out")"
{
	cat <<'HEADER'
# tagpin without Helm: kubectl apply -f deploy/tagpin.yaml
#
# The Helm chart charts/tagpin rendered with its defaults (release tagpin,
# namespace tagpin) by make generate: do not edit. For other settings,
# install the chart, or render it with your values (helm template; every
# value is in charts/tagpin/README.md).
---
apiVersion: v1
kind: Namespace
metadata:
  name: tagpin
  labels:
    # tagpin's pods pass the restricted Pod Security profile.
    pod-security.kubernetes.io/enforce: restricted
HEADER
	printf '%s\n' "$rendered"
} >"$out"
