# The two commands a newcomer needs:
#   make demo   set up everything and run the agent on a demo clip (alerts on the terminal)
#   make test   set up everything and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ASSETS_CACHE ?= var/assets

.PHONY: demo test venv bench schemas docs clean

$(BIN)/edge-agent: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(BIN)/edge-agent

demo: venv
	$(BIN)/edge-agent demo --cache $(ASSETS_CACHE)

test: venv
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: venv
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

schemas: venv
	$(BIN)/python scripts/gen_docs.py

clean:
	rm -rf $(VENV) var build *.egg-info
