# The two commands README.md starts with: `make demo` and `make test`. Both set themselves up.
# `make` alone lists the targets: each documents itself with a `## ` comment on its rule line, which `help` prints.
.DEFAULT_GOAL := help
PYTHON    ?= python3
# ansible-core 2.20+ needs Python >= 3.12; pyenv has 3.12 and 3.13 on this kind of machine.
PYENV_VERSIONS := $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions
PYTHON312 ?= $(firstword $(wildcard $(PYENV_VERSIONS)/3.12*/bin/python3.12) python3.12)
PYTHON313 ?= $(firstword $(wildcard $(PYENV_VERSIONS)/3.13*/bin/python3.13) python3.13)
VENV      := .venv
BIN       := $(VENV)/bin
# The two ends of README's support matrix; .venv, in between, runs everything else.
VENV_OLDEST := .venv-oldest
VENV_NEWEST := .venv-newest
VENV_BENCH := .venv-bench
VENV_IMPORTER := .venv-importer
LINK      := .collections/ansible_collections/keyguard/aws
# Tools find the collection as keyguard.aws through the link, and each other through PATH.
TOOLS_ENV := PATH="$(CURDIR)/$(BIN):$$PATH" ANSIBLE_COLLECTIONS_PATH="$(CURDIR)/.collections"

.PHONY: help setup demo demo-cis demo-policy demo-org demo-server bench bench-org bench-scale test lint pytest unit integration sanity docs changelog ansible-lint format clean
.PHONY: sanity-oldest sanity-newest matrix matrix-oldest matrix-newest importer

help:  ## list the targets, each with one line (the default goal)
	@echo 'Usage: make <target>'
	@awk -F ':.*## ' '/^[a-zA-Z0-9_-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# A venv with exactly the pinned tools; rebuilt when the pins change.
$(BIN)/.installed: requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

# The ends are rebuilt from scratch when their pins change, so no package outlives its pin.
$(VENV_OLDEST)/.installed: requirements-oldest.txt
	rm -rf $(VENV_OLDEST)
	$(PYTHON) -m venv $(VENV_OLDEST)
	$(VENV_OLDEST)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-oldest.txt
	touch $@

$(VENV_NEWEST)/.installed: requirements-newest.txt
	rm -rf $(VENV_NEWEST)
	$(PYTHON313) -m venv $(VENV_NEWEST)
	$(VENV_NEWEST)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-newest.txt
	touch $@

$(VENV_IMPORTER)/.installed: requirements-importer.txt
	rm -rf $(VENV_IMPORTER)
	$(PYTHON) -m venv $(VENV_IMPORTER)
	$(VENV_IMPORTER)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-importer.txt
	touch $@

$(VENV_BENCH)/.installed: benchmarks/requirements.txt benchmarks/constraints.txt
	$(PYTHON312) -m venv $(VENV_BENCH)
	$(VENV_BENCH)/bin/python -m pip install --quiet --disable-pip-version-check -r benchmarks/requirements.txt -c benchmarks/constraints.txt
	touch $@

$(LINK):
	mkdir -p $(dir $(LINK))
	ln -sfn ../../.. $(LINK)

setup: $(BIN)/.installed $(LINK)  ## build .venv with the pinned tools and link the checkout as keyguard.aws

demo: setup  ## run the demo playbook against a local moto server
	$(BIN)/python tools/demo.py

demo-cis: setup  ## run the CIS unused-keys demo against a local moto server
	$(BIN)/python tools/demo.py cis

demo-org: setup  ## run the organization sweep demo against a local moto server
	$(BIN)/python tools/demo.py org

demo-policy: setup  ## run the key policy demo: warn, pending, deadline passed, deactivate, undo from the journal
	$(BIN)/python tools/demo.py policy

demo-server: setup  ## keep a seeded moto server running and print the variables to use it
	$(BIN)/python tools/demo.py serve

# Everything CI checks, in the order that fails fastest.
test: lint changelog ansible-lint docs sanity importer matrix pytest  ## everything CI checks: lint, changelog, ansible-lint, docs, sanity, importer, matrix, pytest

lint: setup  ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

pytest: setup  ## every unit and integration test in .venv
	$(BIN)/python -m pytest -n 2 tests

unit: setup  ## the unit tests only
	$(BIN)/python -m pytest tests/unit

integration: setup  ## the end-to-end tests only (real ansible-playbook against moto)
	$(BIN)/python -m pytest -n 2 tests/integration

# ansible-test sanity, every test (no ignore files), and ansible-test units at both ends of the support matrix, side
# by side: the partner certification checker runs the full sanity at 2.16 too.
sanity:  ## ansible-test sanity and units at both ends of the support matrix
	.ci/parallel.sh "$(MAKE) --no-print-directory sanity-newest" "$(MAKE) --no-print-directory sanity-oldest"

sanity-newest: $(VENV_NEWEST)/.installed  ## ansible-test sanity on the newest ansible-core and Python 3.13
	.ci/ansible_test.sh $(VENV_NEWEST) 3.13

sanity-oldest: $(VENV_OLDEST)/.installed  ## ansible-test sanity on the oldest ansible-core and Python 3.11
	.ci/ansible_test.sh $(VENV_OLDEST) 3.11

# At each end of the support matrix, the end-to-end subset (pytest -m matrix: a change, a no-op, check mode,
# an AWS error, info and bulk) runs its playbooks with that end's ansible-core, Python and botocore, against
# moto from .venv; the oldest end also runs the unit tests on its botocore and the inventory and organization tests
# (-m organization), where ansible-core changed most between 2.16 and 2.19. .venv runs every test (`make pytest`).
matrix: matrix-oldest matrix-newest  ## the end-to-end subset at both ends of the support matrix

matrix-oldest: setup $(VENV_OLDEST)/.installed  ## unit tests and the end-to-end subset on the oldest supported versions
	$(VENV_OLDEST)/bin/python -m pytest -n 2 tests/unit
	KEYGUARD_TEST_VENV=$(VENV_OLDEST) $(BIN)/python -m pytest -n 2 -m "matrix or organization" tests/integration

matrix-newest: setup $(VENV_NEWEST)/.installed  ## the end-to-end subset on the newest supported versions
	KEYGUARD_TEST_VENV=$(VENV_NEWEST) $(BIN)/python -m pytest -n 2 -m matrix tests/integration

# Build the tarball and run galaxy-importer on it, as Galaxy and Automation Hub do on upload (ansible-test off: see
# `sanity`); any warning fails. The placeholder `repository` goes into CI's copy of galaxy.yml only.
importer: $(VENV_IMPORTER)/.installed  ## build the tarball and run galaxy-importer on it, as Galaxy and Automation Hub do
	.ci/galaxy_importer.sh $(VENV_IMPORTER)

# Lint the plugin docs, then render the HTML docs offline into docs/preview/build/html.
docs: setup  ## lint the plugin docs and render the HTML docs into docs/preview/build/html
	$(TOOLS_ENV) antsibull-docs lint-collection-docs --plugin-docs .
	$(TOOLS_ENV) docs/preview/build.sh

changelog: setup  ## lint the changelog fragments and changelog.yaml
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

ansible-lint: setup  ## ansible-lint the shipped playbooks
	$(TOOLS_ENV) ansible-lint --nocolor playbooks/ extensions/eda/rulebooks/ docs/execution-environment/ docs/decision-environment/

# keyguard.aws against amazon.aws.iam_access_key and the floor; prints tables, writes benchmarks/results/.
bench: $(VENV_BENCH)/.installed $(LINK)  ## every benchmark (writes benchmarks/results/)
	$(VENV_BENCH)/bin/python benchmarks/run.py
	$(VENV_BENCH)/bin/python benchmarks/org.py
	$(VENV_BENCH)/bin/python benchmarks/account_scale.py $(BENCH_SCALE_ARGS)

# The organization sweep: 20 accounts x 50 users behind 50 ms of latency, forks 1 vs 10; writes benchmarks/results/org.json.
bench-org: $(VENV_BENCH)/.installed $(LINK)  ## the organization sweep benchmark, forks 1 vs 10
	$(VENV_BENCH)/bin/python benchmarks/org.py

# Sweeps of 1,000 and 5,000 users behind a 50 ms latency proxy (~52 min; BENCH_SCALE_ARGS=--quick skips the
# one-call-at-a-time runs at 5,000 users, about 25 min of it).
bench-scale: $(VENV_BENCH)/.installed $(LINK)  ## sweeps of 1,000 and 5,000 users behind 50 ms latency (~52 min)
	$(VENV_BENCH)/bin/python benchmarks/account_scale.py $(BENCH_SCALE_ARGS)

format: setup  ## fix what ruff can and format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:  ## remove the venvs, the collection link, caches and built docs
	rm -rf $(VENV) $(VENV_OLDEST) $(VENV_NEWEST) $(VENV_BENCH) $(VENV_IMPORTER) .collections .pytest_cache .ruff_cache docs/preview/rst docs/preview/build

# --- Event-Driven Ansible (issue 12): ansible-rulebook in a pinned venv of its own; it needs Java 17 (bindep.txt).
VENV_EDA := .venv-eda
.PHONY: demo-eda bench-eda clean-eda

$(VENV_EDA)/.installed: requirements-eda.txt constraints-eda.txt
	$(PYTHON) -m venv $(VENV_EDA)
	$(VENV_EDA)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-eda.txt -c constraints-eda.txt
	touch $@

# The integration tests run ansible-rulebook from $(VENV_EDA), so every pytest run that includes them builds it.
pytest integration: $(VENV_EDA)/.installed

demo-eda: setup $(VENV_EDA)/.installed  ## run the Event-Driven Ansible demo (needs Java 17)
	$(BIN)/python tools/demo.py eda

# Seconds from an event sent to SQS to the key Inactive, median of 10; writes benchmarks/results/eda_latency.json.
bench-eda: setup $(VENV_EDA)/.installed  ## seconds from an SQS event to the key Inactive, median of 10
	$(BIN)/python benchmarks/eda_latency.py

bench: bench-eda

clean: clean-eda
clean-eda:  ## remove the ansible-rulebook venv
	rm -rf $(VENV_EDA)
