# Two commands: `make run` starts the whole embedded stack, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

.PHONY: venv run test bench
venv: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/sojourn dev

test: $(STAMP)
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/python bench/enroll.py
	$(VENV)/bin/python bench/memory.py
