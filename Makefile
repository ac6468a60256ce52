# certsync — the two commands a newcomer needs are `make demo` and `make test`.
# Everything they need is built from Go modules into a cache outside the work
# tree ($(CERTSYNC_CACHE)), keyed by version, so only the first run pays.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

CERTSYNC_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/certsync
export CERTSYNC_CACHE

CONTROLLER_TOOLS_VERSION ?= v0.23.0
CONTROLLER_GEN ?= $(CERTSYNC_CACHE)/tools/controller-gen-$(CONTROLLER_TOOLS_VERSION)/controller-gen

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
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC manifests from the Go markers.
	$(CONTROLLER_GEN) rbac:roleName=certsync-manager-role crd:allowDangerousTypes=false paths="./api/...;./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

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

.PHONY: bench
bench: ## Run the benchmarks (numbers quoted in closing notes).
	CERTSYNC_CONTROLPLANE="$$(hack/controlplane.sh cluster)" go test -run '^$$' -bench . -benchtime 1x -timeout 30m ./...

##@ Run

.PHONY: demo
demo: ## Start a local control plane, run the operator and walk through a certificate renewal.
	CERTSYNC_CONTROLPLANE="$$(hack/controlplane.sh cluster)" go run ./hack/demo

.PHONY: build
build: ## Build the operator binary into bin/.
	go build -o bin/certsync .

.PHONY: plugin
plugin: ## Build the kubectl-certsync plugin into bin/ (put it on PATH: kubectl certsync ...).
	go build -o bin/kubectl-certsync ./cmd/kubectl-certsync

.PHONY: plugin-dist
plugin-dist: ## Build the plugin's archives and krew manifest into dist/ (VERSION, URL_BASE, PLATFORMS).
	hack/plugin-dist.sh

.PHONY: run
run: ## Run the operator against the current kubeconfig.
	go run . --metrics-bind-address=:8080 --health-probe-bind-address=:8081

.PHONY: install
install: ## Install the CRDs into the current kubeconfig's cluster.
	kubectl apply --server-side -f config/crd/bases

.PHONY: uninstall
uninstall: ## Remove the CRDs (this deletes every CertSync; target Secrets stay).
	kubectl delete -f config/crd/bases

.PHONY: deploy
deploy: ## Deploy CRDs, RBAC and the manager (needs IMG).
	kubectl apply -k config/default

$(CONTROLLER_GEN):
	GOBIN="$(dir $(CONTROLLER_GEN))" go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
