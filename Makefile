# Quick start: `make run` (Vigie as a service on the embedded store: `vigie up`) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench demo clean opensearch

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/vigie up

demo: $(STAMP)
	$(BIN)/vigie up --demo

test: $(STAMP)
	$(BIN)/python tests/browser_setup.py
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

# One OpenSearch node on a free loopback port, as the tests start it (Java 17+ and Maven; Ctrl-C stops it).
opensearch: $(STAMP)
	$(BIN)/python -m tests.support.opensearch

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
