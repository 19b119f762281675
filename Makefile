# The two commands README.md starts with: `make demo` and `make test`. Both set themselves up.
PYTHON    ?= python3
# ansible-core 2.21 needs Python >= 3.12; pyenv has it on this kind of machine.
PYTHON312 ?= $(firstword $(wildcard $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions/3.12*/bin/python3.12) python3.12)
VENV      := .venv
BIN       := $(VENV)/bin
VENV_NEW  := .venv-2.21
VENV_BENCH := .venv-bench
LINK      := .collections/ansible_collections/keyguard/aws
# Tools find the collection as keyguard.aws through the link, and each other through PATH.
TOOLS_ENV := PATH="$(CURDIR)/$(BIN):$$PATH" ANSIBLE_COLLECTIONS_PATH="$(CURDIR)/.collections"

.PHONY: setup demo demo-cis demo-server bench bench-scale test lint pytest unit integration sanity docs changelog ansible-lint format clean

# A venv with exactly the pinned tools; rebuilt when the pins change.
$(BIN)/.installed: requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

$(VENV_NEW)/.installed: requirements-newest-core.txt
	$(PYTHON312) -m venv $(VENV_NEW)
	$(VENV_NEW)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-newest-core.txt
	touch $@

$(VENV_BENCH)/.installed: benchmarks/requirements.txt benchmarks/constraints.txt
	$(PYTHON312) -m venv $(VENV_BENCH)
	$(VENV_BENCH)/bin/python -m pip install --quiet --disable-pip-version-check -r benchmarks/requirements.txt -c benchmarks/constraints.txt
	touch $@

$(LINK):
	mkdir -p $(dir $(LINK))
	ln -sfn ../../.. $(LINK)

setup: $(BIN)/.installed $(LINK)

demo: setup
	$(BIN)/python tools/demo.py

demo-cis: setup
	$(BIN)/python tools/demo.py cis

demo-server: setup
	$(BIN)/python tools/demo.py serve

# Everything CI checks, in the order that fails fastest.
test: lint changelog ansible-lint docs sanity pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

pytest: setup
	$(BIN)/python -m pytest -n 2 tests

unit: setup
	$(BIN)/python -m pytest tests/unit

integration: setup
	$(BIN)/python -m pytest -n 2 tests/integration

# ansible-test sanity (no ignore files) and units, on ansible-core 2.19 / Python 3.11 and 2.21 / Python 3.12.
sanity: setup $(VENV_NEW)/.installed
	.ci/ansible_test.sh $(VENV) 3.11
	.ci/ansible_test.sh $(VENV_NEW) 3.12

# Lint the plugin docs, then render the HTML docs offline into docs/preview/build/html.
docs: setup
	$(TOOLS_ENV) antsibull-docs lint-collection-docs --plugin-docs .
	$(TOOLS_ENV) docs/preview/build.sh

changelog: setup
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

ansible-lint: setup
	$(TOOLS_ENV) ansible-lint --nocolor playbooks/

# keyguard.aws against amazon.aws.iam_access_key and the floor; prints tables, writes benchmarks/results/.
bench: $(VENV_BENCH)/.installed $(LINK)
	$(VENV_BENCH)/bin/python benchmarks/run.py
	$(VENV_BENCH)/bin/python benchmarks/account_scale.py $(BENCH_SCALE_ARGS)

# Sweeps of 1,000 and 5,000 users behind a 50 ms latency proxy (~45 min; BENCH_SCALE_ARGS=--quick: ~15 min).
bench-scale: $(VENV_BENCH)/.installed $(LINK)
	$(VENV_BENCH)/bin/python benchmarks/account_scale.py $(BENCH_SCALE_ARGS)

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) $(VENV_NEW) $(VENV_BENCH) .collections .pytest_cache .ruff_cache docs/preview/rst docs/preview/build
