# Two commands: `make run` starts the whole embedded stack, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The console's browser tests drive Debian's chromium (Playwright's own browser download is not
# used): installed here when missing, as root through apt-get, else the tests say what to run.
CHROMIUM := /usr/bin/chromium

.PHONY: venv run test bench browser
venv: $(STAMP)

browser:
	@test -x $(CHROMIUM) || [ "$$(id -u)" != 0 ] || { apt-get update -qq && apt-get install -y -qq chromium; }

run: $(STAMP)
	$(VENV)/bin/sojourn dev

test: $(STAMP) browser
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/python bench/enroll.py
	$(VENV)/bin/python bench/memory.py
