# redisbackup — every target documents itself: `make help`.
# Needs only Go, Python >= 3.11, gcc and make; everything else is installed or built here and cached.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
# pytest exits 5 when it collected no tests: for us that is a broken suite (a bad path, marker or import), not a
# pass, so it fails with a message instead of silently succeeding or failing without saying why.
define run_pytest
	@status=0; $(PYTEST) $(1) || status=$$?; \
	if [ $$status -eq 5 ]; then echo 'pytest collected no tests: the suite is broken (a wrong path, marker or import)' >&2; fi; \
	exit $$status
endef
STAMP  := $(VENV)/.installed
REDIS_SERVER := $(shell command -v redis-server 2>/dev/null)
CHROMIUM := $(shell command -v /usr/bin/chromium 2>/dev/null)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help
help: ## Show this help: every target with one line
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# ----------------------------------------------------------------------------------------------- set-up
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required; $(PYTHON) is " + sys.version.split()[0] + ": set PYTHON=python3.11 (or newer)")'
	@# Debian's own Python ships venv support separately.
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

.PHONY: venv
venv: $(STAMP) ## Create .venv with the package (editable) and the dev extras

.PHONY: redis
redis: ## Install redis-server and redis-tools from Debian when missing
ifeq ($(REDIS_SERVER),)
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools
	@# The package starts a system redis on 6379; the tests start their own on free ports and need none.
	-$(SUDO) systemctl disable --now redis-server >/dev/null 2>&1 || $(SUDO) service redis-server stop >/dev/null 2>&1 || true
endif

.PHONY: chromium
chromium: ## Install Debian's chromium when missing (the console's browser tests drive it with Playwright)
ifeq ($(CHROMIUM),)
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
endif

.PHONY: controlplane
controlplane: $(STAMP) ## Build (once, cached in ~/.cache/redisbackup) Kubernetes (control plane and node), helm, weed, CoreDNS, local-path-provisioner
	$(PY) -m devstack.binaries all

# The real node's runtime and the image builder, from Debian (devstack/node, devstack/images).
NODE_PACKAGES := containerd runc containernetworking-plugins iptables conntrack podman tini mmdebstrap util-linux iproute2
.PHONY: node-packages
node-packages: ## Install the node's Debian packages when missing (containerd, runc, CNI plugins, iptables, podman, tini, mmdebstrap)
	@missing=$$(for p in $(NODE_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

.PHONY: images
images: $(STAMP) node-packages controlplane ## Build the container images with podman (once per content, cached in ~/.cache/redisbackup/images)
	$(PY) -m devstack.images

.PHONY: install
install: venv redis chromium controlplane userlands node-packages images ## Everything the tests and the demo need: .venv, redis-server, chromium, the Go tools, the other Redis/Valkey versions, the node's packages, the images

.PHONY: userlands
userlands: $(STAMP) redis ## Make (once, cached in ~/.cache/redisbackup/rootfs) the Debian userlands of Redis 6.0/8.0 and Valkey 8.0/8.1
	$(PY) -m devstack.versions

# ----------------------------------------------------------------------------------------------- checks
.PHONY: lint
lint: $(STAMP) ## ruff, mypy --strict, the import-linter layer contracts and hadolint on the Dockerfile
	$(VENV)/bin/ruff check operator tests devstack
	$(VENV)/bin/ruff format --check operator tests devstack
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint Dockerfile

.PHONY: fmt
fmt: $(STAMP) ## Format and autofix with ruff
	$(VENV)/bin/ruff format operator tests devstack
	$(VENV)/bin/ruff check --fix operator tests devstack

.PHONY: crds
crds: $(STAMP) ## Regenerate crds/ from the pydantic models (the chart copy and manifests/install.yaml too)
	$(PY) -m redisbackup.api.crd --write
	$(PY) -m devstack.manifests --write

.PHONY: manifests
manifests: $(STAMP) ## Render manifests/install.yaml and the chart README's values table (builds helm once if missing)
	$(PY) -m devstack.manifests --write
	$(PY) -m devstack.chartdocs --write

.PHONY: unit
unit: $(STAMP) ## Unit tests only (no servers)
	$(call run_pytest,tests/unit)

.PHONY: e2e
e2e: install ## End-to-end tests on the real local stack (or REDISBACKUP_E2E_KUBECONFIG=<path>: that cluster)
	$(call run_pytest,tests/e2e)

.PHONY: e2e-node
e2e-node: install ## The tests on the real node (kubelet + containerd): installs, samples, restores, rollouts (~20 min)
	$(call run_pytest,tests/e2e/node -m node --durations=20)

.PHONY: test
test: install ## Unit + e2e (with the real node's smoke tests) + the smoke subsets of the fault suite and the version matrix (what CI runs)
	$(call run_pytest,tests/unit tests/e2e tests/fault tests/matrix -m "smoke or not slow" --durations=10)

.PHONY: matrix
matrix: install ## The version matrix (Redis 6.0/7.0/8.0, Valkey 8.0/8.1): writes docs/compatibility.json and the README's table
	REDISBACKUP_MATRIX_RESULTS=docs/compatibility.json $(PYTEST) tests/matrix -p no:randomly --durations=15; \
	status=$$?; $(PY) -m devstack.compat --write; exit $$status

.PHONY: compat
compat: $(STAMP) ## Render the README's compatibility table from docs/compatibility.json (what `make matrix` ran)
	$(PY) -m devstack.compat --write

.PHONY: console-test
console-test: install ## Every test of the console: in chromium (Playwright) and over HTTPS; make test runs the seed's path and the HTTPS ones
	$(call run_pytest,tests/e2e/test_console.py tests/e2e/test_console_security.py -p no:randomly --durations=10)

.PHONY: screenshots
screenshots: install ## Regenerate the README's console screenshots (docs/console/*.png) from a real browser session
	REDISBACKUP_SCREENSHOTS_DIR=$(CURDIR)/docs/console $(PYTEST) tests/e2e/test_console.py -k screenshots -p no:randomly

.PHONY: faults
faults: install ## The whole fault-injection suite; prints a table of outcomes
	$(PYTEST) tests/fault -p no:randomly -s

.PHONY: bench
bench: install ## Benchmarks (not timed tests): prints ratios against baselines measured in the same run
	$(PYTEST) tests/bench -s -p no:cacheprovider

# ----------------------------------------------------------------------------------------------- demo
.PHONY: demo
demo: install ## Start the local stack with a real node, helm install the operator, back up the samples (they reach available)
	$(PY) -m devstack demo

.PHONY: status
status: $(STAMP) ## Is the local stack of `make demo` running? (kubeconfig, endpoints, readiness)
	@$(PY) -m devstack status

.PHONY: demo-down
demo-down: ## Stop everything `make demo` started (and check the node left nothing: no process, mount, link, rule)
	@if [ -x $(PY) ]; then $(PY) -m devstack down; fi

.PHONY: clean
clean: demo-down ## Remove .venv and build/test litter (keeps the ~/.cache/redisbackup tool cache)
	rm -rf $(VENV) .devstack .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info operator/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
