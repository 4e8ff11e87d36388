# The two commands a newcomer needs:
#   make demo   set up everything and run the agent on a demo clip (alerts on the terminal)
#   make test   set up everything and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ASSETS_CACHE ?= var/assets

.PHONY: demo test lint test-py310 venv bench schemas docs clean fuzz

$(BIN)/edge-agent: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(BIN)/edge-agent

demo: venv
	$(BIN)/edge-agent demo --cache $(ASSETS_CACHE)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: venv
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Python 3.10 is what JetPack 6 (Ubuntu 22.04) ships, so CI also runs one or two test files per
# package under it (.ci/run, when a python3.10 is on the machine): 3.11-only code fails there.
PYTHON310 ?= python3.10
VENV310 ?= .venv310
PY310_TESTS := tests/test_config.py tests/test_ids.py tests/test_schemas.py tests/test_camera.py \
	tests/test_access_normalize.py tests/test_http_push.py tests/test_osdp.py tests/test_detector.py \
	tests/test_tracker.py tests/test_rules.py tests/test_geometry.py tests/test_door_rules.py \
	tests/test_outbox.py tests/test_publisher.py tests/test_commands.py tests/test_daemon_video.py \
	tests/test_daemon_access.py tests/test_cli_config.py tests/test_install.py

$(VENV310)/bin/edge-agent: setup.cfg pyproject.toml
	$(PYTHON310) -m venv $(VENV310)
	$(VENV310)/bin/pip install --quiet --upgrade pip
	$(VENV310)/bin/pip install --quiet -e '.[dev]'
	touch $@

test-py310: $(VENV310)/bin/edge-agent
	$(VENV310)/bin/python -m pytest -q -m "not slow" $(PY310_TESTS) $(PYTEST_ARGS)

# The fuzzers (tests marked `fuzz`) with fifty times CI's budget (tests/support/fuzz.py): minutes, by hand.
fuzz: venv
	EDGE_AGENT_FUZZ=long $(BIN)/python -m pytest -q -m fuzz $(PYTEST_ARGS)

bench: venv
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

schemas: venv
	$(BIN)/python scripts/gen_docs.py

clean:
	rm -rf $(VENV) $(VENV310) var build *.egg-info
