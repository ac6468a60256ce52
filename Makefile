# certsync — the two commands a newcomer needs are `make demo` and `make test`.
# Everything they need is built from Go modules into a cache outside the work
# tree ($(CERTSYNC_CACHE)), keyed by version, so only the first run pays.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

CERTSYNC_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/certsync
export CERTSYNC_CACHE

CONTROLLER_TOOLS_VERSION ?= v0.23.0
CONTROLLER_GEN ?= $(CERTSYNC_CACHE)/tools/controller-gen-$(CONTROLLER_TOOLS_VERSION)/controller-gen

# Release stamping: the version, commit and date land in internal/version
# (certsync --version, certsync_build_info) and in the image labels.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION_PKG := certsync.io/certsync/internal/version
LDFLAGS := -s -w -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Commit=$(COMMIT) -X $(VERSION_PKG).Date=$(DATE)
# The image to build, push and deploy.
IMG ?= ghcr.io/certsync/certsync:$(VERSION)
PLATFORMS ?= linux/amd64,linux/arm64
CONTAINER_TOOL ?= docker
KUBECTL ?= kubectl

# Tests run on 2 shared cores: go test's own parallelism is enough, and a
# generous timeout covers the first run that builds the control plane.
GO_TEST_FLAGS ?= -timeout 40m
FUZZTIME ?= 10s

.PHONY: all
all: build

##@ Development

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC manifests from the Go markers (and the chart's copies).
	$(CONTROLLER_GEN) rbac:roleName=certsync-manager-role crd:allowDangerousTypes=false paths="./api/...;./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	hack/chart-sync.sh

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## gofmt the tree.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet the tree.
	go vet ./...

.PHONY: controlplane
controlplane: ## Build (once) etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok from Go modules.
	hack/controlplane.sh cluster >/dev/null

##@ Test

.PHONY: test
test: $(CONTROLLER_GEN) ## Run every test: generated files fresh, vet, unit, fuzz smoke, envtest integration, end-to-end.
	hack/check-generated.sh "$(CONTROLLER_GEN)"
	hack/chart-sync.sh --check
	go run ./hack/chartdoc -check
	go vet ./...
	hack/promtool.sh >/dev/null
	CERTSYNC_CONTROLPLANE="$$(hack/controlplane.sh cluster)" go test $(GO_TEST_FLAGS) ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

.PHONY: alerts
alerts: ## Check and unit-test the Prometheus alert rules with promtool (built once from Go modules).
	"$$(hack/promtool.sh)" check rules --lint=all --lint-fatal config/prometheus/rules.yaml
	"$$(hack/promtool.sh)" test rules config/prometheus/rules_test.yaml

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (make fuzz FUZZTIME=5m for a longer run).
	hack/fuzz.sh "$(FUZZTIME)"

.PHONY: bench-scale
bench-scale: ## Estate sweep on the local cluster (kwok, mail simulator): table + bench/scale.json. Larger points: CERTSYNC_SCALE_POINTS=1000x3/0,1000x3/20000,100x3/50000.
	CERTSYNC_CONTROLPLANE="$$(hack/controlplane.sh cluster)" go test -run '^$$' -bench 'BenchmarkScale$$' -benchtime 1x -timeout 3h -v ./test/bench/

.PHONY: bench-fairness
bench-fairness: ## Namespace fairness: one CertSync's sync time while 1,000 of another namespace are queued (CERTSYNC_FAIRNESS_BUSY).
	CERTSYNC_CONTROLPLANE="$$(hack/controlplane.sh envtest)" go test -run '^$$' -bench 'BenchmarkNamespaceFairness$$' -benchtime 1x -timeout 1h -v ./test/bench/

.PHONY: bench-compare
bench-compare: ## Run the quick benchmarks and fail on a figure >20% (beyond noise) worse than bench/*.json.
	hack/bench-compare.sh

.PHONY: bench
bench: ## Run the benchmarks (numbers quoted in closing notes).
	CERTSYNC_CONTROLPLANE="$$(hack/controlplane.sh cluster)" go test -run '^$$' -bench . -benchtime 1x -timeout 30m ./...

##@ Run

.PHONY: demo
demo: ## Start a local control plane, run the operator and walk through a certificate renewal.
	CERTSYNC_CONTROLPLANE="$$(hack/controlplane.sh cluster)" go run ./hack/demo

.PHONY: build
build: ## Build the operator binary into bin/, version-stamped.
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/certsync .

.PHONY: plugin
plugin: ## Build the kubectl-certsync plugin into bin/ (put it on PATH: kubectl certsync ...).
	go build -o bin/kubectl-certsync ./cmd/kubectl-certsync

.PHONY: plugin-dist
plugin-dist: ## Build the plugin's archives and krew manifest into dist/ (VERSION, URL_BASE, PLATFORMS).
	hack/plugin-dist.sh

.PHONY: run
run: ## Run the operator against the current kubeconfig.
	go run . --metrics-bind-address=:8080 --metrics-secure=false --health-probe-bind-address=:8081

.PHONY: install
install: ## Install the CRDs into the current kubeconfig's cluster.
	kubectl apply --server-side -f config/crd/bases

.PHONY: uninstall
uninstall: ## Remove the CRDs (this deletes every CertSync; target Secrets stay).
	kubectl delete -f config/crd/bases

.PHONY: deploy
deploy: ## Deploy config/default (CRDs, RBAC, the manager) with image IMG (default: the pinned release).
	@mkdir -p bin && tmp=$$(mktemp -d -p bin deploy.XXXXXX) && trap 'rm -rf "$$tmp"' EXIT && kustomize=$$(hack/gotool.sh kustomize) && \
	printf 'resources:\n- ../../config/default\n' > "$$tmp/kustomization.yaml" && \
	if [ "$(origin IMG)" != file ]; then (cd "$$tmp" && "$$kustomize" edit set image ghcr.io/certsync/certsync=$(IMG)); fi && \
	"$$kustomize" build "$$tmp" | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove what make deploy applied (the CRDs too: this deletes every CertSync; target Secrets stay).
	"$$(hack/gotool.sh kustomize)" build config/default | kubectl delete --ignore-not-found -f -

##@ Release

.PHONY: image
image: ## Build the multi-platform OCI image layout into bin/image, without a container runtime (offline).
	go -C hack/tools/image run . -src "$(CURDIR)" -out "$(CURDIR)/bin/image" -tag "$(IMG)" \
	  -version "$(VERSION)" -commit "$(COMMIT)" -date "$(DATE)" -platforms "$(PLATFORMS)"

.PHONY: image-push
image-push: ## Build the OCI image and push it to IMG (credentials from the Docker config), still without a daemon.
	go -C hack/tools/image run . -src "$(CURDIR)" -out "$(CURDIR)/bin/image" -tag "$(IMG)" \
	  -version "$(VERSION)" -commit "$(COMMIT)" -date "$(DATE)" -platforms "$(PLATFORMS)" -push "$(IMG)"

.PHONY: docker-build
docker-build: ## Build the image with Docker (Dockerfile) as IMG.
	$(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(DATE) -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push IMG with Docker.
	$(CONTAINER_TOOL) push $(IMG)

.PHONY: docker-buildx
docker-buildx: ## Build and push a multi-platform image with docker buildx.
	$(CONTAINER_TOOL) buildx build --platform $(PLATFORMS) --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(DATE) -t $(IMG) --push .

.PHONY: chart-sync
chart-sync: ## Copy the CRDs, RBAC rules and alert rules of config/ into charts/certsync/files.
	hack/chart-sync.sh

.PHONY: chart-docs
chart-docs: ## Regenerate the values table of charts/certsync/README.md from values.yaml.
	go run ./hack/chartdoc

.PHONY: helm-lint
helm-lint: ## Lint the Helm chart (helm built once from Go modules).
	"$$(hack/gotool.sh helm)" lint --strict charts/certsync

.PHONY: chart-package
chart-package: ## Package the Helm chart into bin/.
	"$$(hack/gotool.sh helm)" package charts/certsync -d bin

$(CONTROLLER_GEN):
	GOBIN="$(dir $(CONTROLLER_GEN))" go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
