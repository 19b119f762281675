# The two commands README.md starts with: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LINK   := .collections/ansible_collections/keyguard/aws

.PHONY: setup demo test unit integration lint format clean

# A venv with exactly the pinned tools; rebuilt when the pins change.
$(BIN)/.installed: requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

# Ansible finds the collection as keyguard.aws through this link to the checkout.
$(LINK):
	mkdir -p $(dir $(LINK))
	ln -sfn ../../.. $(LINK)

setup: $(BIN)/.installed $(LINK)

demo: setup
	$(BIN)/python tools/demo.py

test: lint
	$(BIN)/python -m pytest -n 2 tests

unit: setup
	$(BIN)/python -m pytest tests/unit

integration: setup
	$(BIN)/python -m pytest -n 2 tests/integration

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .collections .pytest_cache .ruff_cache
