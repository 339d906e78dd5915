# posthog-deploy: `make up` deploys the local stack, `make test` runs every test.
# Everything is built from the Go module proxy and Debian's packages into ./bin (see README).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(CURDIR)/bin:$(PATH)
export PULUMI_SKIP_UPDATE_CHECK := true

STACK ?= local
CONTROLPLANE := tools/controlplane.sh
KUBECONFIG_LOCAL := $(CURDIR)/.work/controlplane/kubeconfig
GO_TEST_FLAGS ?=

.PHONY: help tools test-deps promtool driver policy-pack policy docs up down test unit e2e lint bench clean

help:
	@echo "make up      deploy the local stack onto a local control plane (builds what is missing)"
	@echo "make down    destroy the local stack and stop the control plane"
	@echo "make test    every test: lint, unit (mocks), policy checks, end to end (real engine)"
	@echo "make policy  the policy rules over every stack in stacks/"
	@echo "make bench   benchmarks"

## tools: the pinned toolchain in ./bin (idempotent; cached by content under ~/.cache/posthog-deploy)
tools:
	@tools/build.sh etcd
	@tools/build.sh kubectl
	@tools/build.sh pulumi
	@tools/build.sh pulumi-resource-kubernetes
	@tools/build.sh kwok
	@tools/build.sh kube
	@tools/build.sh prometheus-crds

## test-deps: Debian's ZooKeeper, PgBouncer, PostgreSQL and Redis, which the unit tests run for real
## (our zoo.cfg as a three-node ensemble, our pgbouncer.ini in front of a TLS-only PostgreSQL, our
## redis-server arguments filled to the limit)
TEST_DEBS := zookeeper pgbouncer postgresql-15 redis-server
test-deps:
	@missing=$$(for p in $(TEST_DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [[ -n "$$missing" ]]; then \
	  sudo=; [[ $$(id -u) -eq 0 ]] || sudo=sudo; \
	  echo "installing Debian's" $$missing; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || \
	  { $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; }; \
	fi

## promtool: Prometheus' rule checker, which the monitoring tests run on every rule file
promtool:
	@tools/build.sh promtool

driver:
	@go build -o bin/stack ./cmd/stack

## policy-pack: the policy pack as an executable the engine runs (--policy-pack bin/policy-pack)
policy-pack:
	@go build -o bin/policy-pack ./policies

## policy: every rule over every stack in stacks/ (captured under mocks); fails on a mandatory violation
policy:
	go test -count=1 -v -run 'TestShippedStacksAreClean|TestUnsafeVariantsAreCaught' ./policies/

## docs: regenerate docs/policies.md from the policy rules, and docs/monitoring.md's alerts from the rule files
docs:
	go test ./policies/rules -run TestDocsAreGenerated -update
	go test ./components/monitoring -run TestDocsAreGenerated -update

up: tools driver policy-pack
	@$(CONTROLPLANE) start
	KUBECONFIG=$(KUBECONFIG_LOCAL) bin/stack -stack $(STACK) -policy-pack bin/policy-pack -refresh up
	@echo
	@echo "The control plane is up: export KUBECONFIG=$(KUBECONFIG_LOCAL)"
	@echo "  kubectl -n posthog get statefulsets,deployments,pods -o wide"
	@echo "make down destroys the stack and stops the control plane."

down: driver
	@if $(CONTROLPLANE) running; then KUBECONFIG=$(KUBECONFIG_LOCAL) bin/stack -stack $(STACK) destroy; fi
	@$(CONTROLPLANE) stop

## test: what .ci/run runs. Lint and unit tests first (fast), then the end-to-end test.
test: lint unit policy e2e

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [[ -n $$out ]]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	go vet ./...

# No build tags: a tag is part of every package's cache key, and would compile the SDKs twice.
unit: test-deps promtool
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v /e2e$$)

e2e: tools driver policy-pack
	go test $(GO_TEST_FLAGS) -count=1 -timeout 30m -v ./e2e/

bench:
	go test -run '^$$' -bench . -benchmem $$(go list ./... | grep -v /e2e$$)

clean: down
	rm -rf .work bin
