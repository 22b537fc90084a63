# tagpin — `make` (or `make help`) lists the targets.
#
# Tools are built into $(CACHE), outside the work tree, keyed by version.
# Recipes run in bash with -e -u -o pipefail: any failing step fails make.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

# $TAGPIN_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/tagpin (as in hack/lib.sh).
CACHE ?= $(or $(TAGPIN_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/tagpin)
GO ?= go

GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(CACHE)/bin/golangci-lint-$(GOLANGCI_LINT_VERSION)

# Build tools live in their own module, hack/tools (go.mod tool directives),
# so they stay out of tagpin's module graph; go tool builds them on first use.
TOOLS_GO := $(GO) tool -modfile=hack/tools/go.mod
CONTROLLER_GEN := $(TOOLS_GO) controller-gen
HELM := $(TOOLS_GO) helm
# Helm built with go tool assumes Kubernetes 1.20 unless told the version.
CHART_KUBE_VERSION := 1.37.0
# The package of the custom resources' Go types (controller-gen markers).
API_PKG := ./internal/store/kubestore

# RACE=0 runs the internal packages' tests without the race detector.
RACE ?= 1
# Flags for go test; the timeout covers a cold build cache on 2 cores.
TESTFLAGS ?= -timeout=30m

.PHONY: help
help: ## list the targets (the default)
	@echo "Targets:"
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z0-9_.-]+:.*## / { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo "Tools are cached in $(CACHE) (TAGPIN_CACHE overrides it); RACE=0 skips the race detector;"
	@echo "K8S_VERSION=1.35 runs the tests on Kubernetes 1.35 instead of 1.37."

.PHONY: build
build: ## build bin/tagpin
	$(GO) build -o bin/tagpin ./cmd/tagpin

# make image: IMAGE_REPO pushes (e.g. 127.0.0.1:5000/tagpin), IMAGE_LAYOUT
# writes an OCI image layout (bin/image when neither is set); both may be
# set. The version (IMAGE_VERSION, default from git) is always a tag;
# IMAGE_TAGS adds more (e.g. latest). IMAGE_INSECURE=1 pushes over plain
# HTTP (loopback registries always are). SOURCE_DATE_EPOCH, when set,
# replaces the commit time in the image's timestamps.
IMAGE_REPO ?=
IMAGE_LAYOUT ?= $(if $(IMAGE_REPO),,bin/image)
IMAGE_TAGS ?=
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
IMAGE_VERSION ?=
IMAGE_INSECURE ?= 0

image_flags = --go "$(GO)" --platform "$(IMAGE_PLATFORMS)" \
	$(if $(IMAGE_REPO),--repo "$(IMAGE_REPO)") $(if $(IMAGE_LAYOUT),--layout "$(IMAGE_LAYOUT)") \
	$(foreach t,$(IMAGE_TAGS),--tag "$(t)") $(if $(IMAGE_VERSION),--version "$(IMAGE_VERSION)") \
	$(if $(filter 1,$(IMAGE_INSECURE)),--insecure)

.PHONY: image
image: ## build the linux/amd64+arm64 image without Docker, reproducibly; IMAGE_REPO=host/repo pushes, IMAGE_LAYOUT=dir (default bin/image) writes an OCI layout (hack/image)
	$(GO) run ./hack/image $(strip $(image_flags))

.PHONY: test
test: tools fmt-check vet lint check-generated controlplane ## install what is missing, then gofmt check, vet, lint, generated-file drift, all tests (-race on internal/)
	@export KUBEBUILDER_ASSETS=$$(bash hack/controlplane.sh); \
	if [ "$(RACE)" = 1 ]; then \
		echo "$(GO) test -race $(TESTFLAGS) ./internal/..."; \
		$(GO) test -race $(TESTFLAGS) ./internal/...; \
		pkgs=$$($(GO) list ./... | grep -v "^$$($(GO) list -m)/internal\(/\|\$$\)"); \
		echo "$(GO) test $(TESTFLAGS) <the packages outside internal/>"; \
		$(GO) test $(TESTFLAGS) $$pkgs; \
	else \
		echo "$(GO) test $(TESTFLAGS) ./..."; \
		$(GO) test $(TESTFLAGS) ./...; \
	fi

.PHONY: controlplane
controlplane: ## build etcd, kube-apiserver and kube-controller-manager 1.37 (K8S_VERSION=1.35: 1.35) into the cache, once (hack/controlplane.sh)
	@bash hack/controlplane.sh >/dev/null

.PHONY: tools
tools: ## install Debian's docker-registry, jq and rpm (and gcc for -race) with apt-get when missing
	@pkgs=(); \
	command -v docker-registry >/dev/null 2>&1 || pkgs+=(docker-registry); \
	command -v jq >/dev/null 2>&1 || pkgs+=(jq); \
	command -v rpmbuild >/dev/null 2>&1 || pkgs+=(rpm); \
	if [ "$(RACE)" = 1 ] && ! command -v "$$($(GO) env CC)" >/dev/null 2>&1; then pkgs+=(gcc libc6-dev); fi; \
	[ $${#pkgs[@]} -eq 0 ] && exit 0; \
	sudo=(); [ "$$(id -u)" -eq 0 ] || sudo=(sudo); \
	echo "==> apt-get install -y $${pkgs[*]}"; \
	"$${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$${pkgs[@]}" || { \
		echo "==> apt-get install failed; updating the package lists and retrying"; \
		"$${sudo[@]}" apt-get update; \
		"$${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$${pkgs[@]}"; \
	}

.PHONY: fmt-check
fmt-check: ## fail listing the Go files gofmt would change (testdata excluded)
	@files=$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -l); \
	if [ -n "$$files" ]; then echo "gofmt: these files need formatting (run make fmt):"; echo "$$files"; exit 1; fi

.PHONY: fmt
fmt: $(GOLANGCI_LINT) ## format the Go files (gofmt -s and goimports, as lint checks them)
	$(GOLANGCI_LINT) fmt ./...

.PHONY: vet
vet: ## go vet ./...
	$(GO) vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint run ./... (installs the pinned golangci-lint into the cache first)
	$(GOLANGCI_LINT) run ./...

.PHONY: generate
generate: ## regenerate the committed generated files (DeepCopy and config/crd with controller-gen, docs/reference, the chart's CRDs and README, deploy/tagpin.yaml)
	rm -rf docs/reference config/crd
	$(CONTROLLER_GEN) object paths=$(API_PKG) crd paths=$(API_PKG) output:crd:dir=config/crd
	$(GO) run ./hack/gendocs docs/reference
	rm -rf charts/tagpin/crds && mkdir -p charts/tagpin/crds && cp config/crd/*.yaml charts/tagpin/crds/
	$(GO) run ./hack/chartdocs charts/tagpin charts/tagpin/README.md
	KUBE_VERSION=$(CHART_KUBE_VERSION) bash hack/chart-render.sh deploy/tagpin.yaml

.PHONY: check-generated
check-generated: ## fail when a generated file differs from what make generate writes
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(GO) run ./hack/gendocs "$$tmp/reference"; \
	$(CONTROLLER_GEN) object paths=$(API_PKG) output:object:dir="$$tmp/object" \
		crd paths=$(API_PKG) output:crd:dir="$$tmp/crd"; \
	$(GO) run ./hack/chartdocs charts/tagpin "$$tmp/chart-README.md"; \
	KUBE_VERSION=$(CHART_KUBE_VERSION) bash hack/chart-render.sh "$$tmp/tagpin.yaml"; \
	if ! diff -ru docs/reference "$$tmp/reference" || ! diff -ru config/crd "$$tmp/crd" || \
		! diff -u $(API_PKG)/zz_generated.deepcopy.go "$$tmp/object/zz_generated.deepcopy.go" || \
		! diff -ru "$$tmp/crd" charts/tagpin/crds || ! diff -u charts/tagpin/README.md "$$tmp/chart-README.md" || \
		! diff -u deploy/tagpin.yaml "$$tmp/tagpin.yaml"; then \
		echo "generated files are out of date: run make generate and commit the result"; exit 1; \
	fi

.PHONY: chart-lint
chart-lint: ## helm lint the chart with each of its value sets (charts/tagpin/ci)
	@for f in charts/tagpin/ci/*-values.yaml; do \
		echo "helm lint --strict charts/tagpin -f $$f"; \
		$(HELM) lint --strict charts/tagpin --namespace tagpin --kube-version $(CHART_KUBE_VERSION) -f "$$f" --quiet; \
	done

.PHONY: chart-test
chart-test: ## the chart's tests: lint, render every value set, bad values refused, objects accepted by a real API server (test/chart)
	@export KUBEBUILDER_ASSETS=$$(bash hack/controlplane.sh); $(GO) test $(TESTFLAGS) ./test/chart/

.PHONY: bench
bench: ## run the benchmarks and print their figures (hack/bench.sh)
	bash hack/bench.sh

.PHONY: demo
demo: tools ## the webhook on a local control plane: pin, push, rollout, rollback, outage, history (hack/demo)
	$(GO) run ./hack/demo

.PHONY: demo-pin
demo-pin: ## tagpin pin on a sample repository against a local Distribution registry (hack/demo-pin.sh)
	bash hack/demo-pin.sh

# Built in a private directory, then moved into place: a version bump
# changes the file name and so reinstalls; concurrent runs do not collide.
$(GOLANGCI_LINT):
	@echo "==> installing golangci-lint $(GOLANGCI_LINT_VERSION) into $(CACHE)/bin"
	@mkdir -p "$(CACHE)/bin"; \
	tmp=$$(mktemp -d "$(CACHE)/bin/.install.XXXXXX"); \
	trap 'rm -rf "$$tmp"' EXIT; \
	GOBIN="$$tmp" $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); \
	mv "$$tmp/golangci-lint" "$@"
