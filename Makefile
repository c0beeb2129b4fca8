# aws-root-mfa-exporter: the project's commands. `make help` lists them.

CARGO    ?= cargo
PYTHON   ?= python3
VENV     ?= .venv
# The AWS CLI lives apart: it pins a botocore that moto's boto3 may not accept.
VENV_CLI ?= .venv-cli
# Linters of the deployment artifacts, apart for the same reason.
VENV_LINT ?= .venv-lint
K8S_CORE := $(filter-out %kustomization.yaml %servicemonitor.yaml %prometheusrule.yaml,$(wildcard deploy/kubernetes/*/*.yaml))
# Grafana's dashboard schema is not part of this repository; CI passes it in.
DASHBOARD_SCHEMA ?=
# Debian packages the tests use: Prometheus (and promtool), Alertmanager, systemd-analyze,
# Chromium (the landing page's browser test); the benchmarks use wrk and nginx.
DEB_TEST_PACKAGES  := prometheus prometheus-alertmanager systemd chromium
DEB_BENCH_PACKAGES := prometheus wrk nginx-light
# Seconds each fuzz target runs for under `make fuzz`.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := web_config basic_auth role_arns shard xml_answer gzip_body

.PHONY: help run build test deps venv lint lint-deploy bench bench-scale fuzz demo clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

run: ## Run the exporter with the ambient AWS credentials (ARGS="--poll.interval 1m").
	$(CARGO) run --release -- $(ARGS)

build: ## Build the release binary (target/release/aws-root-mfa-exporter).
	$(CARGO) build --release --locked

test: deps ## Run every test: unit, SDK-level and end to end against moto, with the release binary.
	AWS_ROOT_MFA_EXPORTER_TEST_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) test --release --locked --no-fail-fast

deps: venv ## Install what the tests need: moto and Playwright into .venv; Prometheus, Alertmanager, Chromium from Debian.
	@command -v promtool >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1 && command -v systemd-analyze >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1 || $(MAKE) --no-print-directory debian PACKAGES="$(DEB_TEST_PACKAGES)"

venv: $(VENV)/.installed

$(VENV)/.installed: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

.PHONY: debian
debian:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO=sudo; else \
	  echo "missing Debian packages: run 'sudo apt-get install $(PACKAGES)' and try again" >&2; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(PACKAGES)

lint: ## Formatting, clippy and rustdoc, as CI runs them; any warning fails.
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --locked

fuzz: ## Run every cargo fuzz target for FUZZ_SECONDS each (needs cargo-fuzz).
	@command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 1; }
	@# cargo fuzz passes nightly-only flags; RUSTC_BOOTSTRAP lets the stable toolchain take them.
	for t in $(FUZZ_TARGETS); do \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -O $$t fuzz/corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096 || exit 1; \
	done

bench: venv build $(VENV_CLI)/.installed ## Run the benchmarks behind docs/performance.md and docs/scaling.md.
	@command -v wrk >/dev/null 2>&1 && { command -v nginx || test -x /usr/sbin/nginx; } >/dev/null 2>&1 || $(MAKE) --no-print-directory debian PACKAGES="$(DEB_BENCH_PACKAGES)"
	$(VENV)/bin/python bench/bench.py --exporter target/release/aws-root-mfa-exporter
	$(VENV)/bin/python bench/organization.py --exporter target/release/aws-root-mfa-exporter --aws $(VENV_CLI)/bin/aws
	$(VENV)/bin/python bench/assume_root.py --exporter target/release/aws-root-mfa-exporter
	$(VENV)/bin/python bench/roles.py --exporter target/release/aws-root-mfa-exporter
	$(VENV)/bin/python bench/events.py --exporter target/release/aws-root-mfa-exporter
	$(MAKE) --no-print-directory bench-scale

bench-scale: venv build ## The cost curve to 10,000 accounts and /metrics beside nginx (docs/scaling.md); about 30 minutes.
	@command -v wrk >/dev/null 2>&1 && { command -v nginx || test -x /usr/sbin/nginx; } >/dev/null 2>&1 || $(MAKE) --no-print-directory debian PACKAGES="$(DEB_BENCH_PACKAGES)"
	$(CARGO) bench --locked --bench scrape_parts
	$(VENV)/bin/python bench/scaling.py --exporter target/release/aws-root-mfa-exporter
	$(VENV)/bin/python bench/load.py --exporter target/release/aws-root-mfa-exporter --accounts 1000
	$(VENV)/bin/python bench/load.py --exporter target/release/aws-root-mfa-exporter --accounts 9999 --soak 0

$(VENV_CLI)/.installed: bench/requirements.txt
	$(PYTHON) -m venv $(VENV_CLI)
	$(VENV_CLI)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

demo: deps build ## Start the whole stack on loopback (moto, exporter, Prometheus, Alertmanager); Ctrl-C stops it.
	$(VENV)/bin/python scripts/demo.py --exporter target/release/aws-root-mfa-exporter

lint-deploy: $(VENV_LINT)/.installed ## Lint the Dockerfile, Kubernetes manifests, CloudFormation and dashboards.
	$(VENV_LINT)/bin/hadolint deploy/Dockerfile
	$(VENV_LINT)/bin/cfn-lint deploy/iam/stackset-role.yaml deploy/cloudformation/*.yaml
	$(VENV_LINT)/bin/kubernetes-validate --strict --quiet -k 1.30.0 $(K8S_CORE)
	$(VENV_LINT)/bin/checkov -d deploy --compact --quiet --skip-download
	@if [ -n "$(DASHBOARD_SCHEMA)" ]; then \
	  $(VENV_LINT)/bin/python scripts/validate_dashboards.py $(DASHBOARD_SCHEMA) grafana/dashboards/*.json; \
	else echo "DASHBOARD_SCHEMA not set: dashboards not validated against Grafana's schema"; fi

$(VENV_LINT)/.installed: deploy/requirements-lint.txt
	$(PYTHON) -m venv $(VENV_LINT)
	$(VENV_LINT)/bin/pip install --quiet --disable-pip-version-check -r deploy/requirements-lint.txt
	touch $@

clean: ## Remove build output and the virtualenv.
	$(CARGO) clean
	rm -rf $(VENV) $(VENV_CLI) $(VENV_LINT)
