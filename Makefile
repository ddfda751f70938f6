# eventgate — the two commands of the quick start are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test install bench clean aiontfy-venv

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## Start the server on the embedded default (SQLite under ./data/), port 8080.
run: $(STAMP)
	$(BIN)/eventgate serve $(ARGS)

## Install and run the whole suite (also on PostgreSQL/Redis/NATS when EVENTGATE_TEST_* are set),
## in two processes, a test file each at a time (PYTEST_WORKERS= runs it in one).
PYTEST_WORKERS ?= -n 2 --dist loadfile
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

## The pinned aiontfy client (needs a Python 3.12) that tests/test_ntfy_aiontfy.py drives.
aiontfy-venv: $(STAMP)
	$(BIN)/python -m tests.aiontfy_venv

bench: $(STAMP)
	$(BIN)/python bench/ingest.py $(ARGS)

clean:
	rm -rf $(VENV) .venv-aiontfy data .pytest_cache
