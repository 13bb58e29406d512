# The two commands the README opens with: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed-dev

.PHONY: demo test unit lint typecheck stack-start stack-stop bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The demo needs only the app's own dependencies; tests and benchmarks add the dev extra.
$(RUNTIME): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $(RUNTIME)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(RUNTIME) $(STAMP)

# The embedded demo: SQLite store, in-process queue, sandbox systems. No cloud, no emulators.
demo: $(RUNTIME)
	$(PY) -m integration_core demo

# Everything: starts Azurite, the Cosmos emulator and Redis (reusing one on 6379), runs the
# whole suite, then stops what it started (a stack that was already up stays up).
test: $(STAMP)
	@was_up=0; infra/local/stack.sh status >/dev/null 2>&1 && was_up=1; \
	infra/local/stack.sh start; \
	status=0; $(PY) -m pytest $(PYTEST_ARGS) || status=$$?; \
	[ $$was_up = 1 ] || infra/local/stack.sh stop; exit $$status

# The fast lane: no services, no slow tests.
unit: $(STAMP)
	LOCKSTEP_SKIP_SERVICES=1 $(PY) -m pytest -m "unit and not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

stack-start:
	infra/local/stack.sh start

stack-stop:
	infra/local/stack.sh stop

bench: $(STAMP)
	@was_up=0; infra/local/stack.sh status >/dev/null 2>&1 && was_up=1; \
	infra/local/stack.sh start; \
	status=0; { $(PY) bench/sync.py && $(PY) -m bench.dedup && $(PY) bench/ratelimit.py && $(PY) bench/webhooks.py; } \
		|| status=$$?; \
	[ $$was_up = 1 ] || infra/local/stack.sh stop; exit $$status

clean:
	rm -rf $(VENV) .local-stack .lockstep .pytest_cache .mypy_cache .ruff_cache
