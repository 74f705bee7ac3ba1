# Flywheel: `make run` starts it on SQLite, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
export FLYWHEEL_HOME ?= $(CURDIR)/.flywheel

.PHONY: run test lint typecheck unit integration e2e bench clean

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Flywheel needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	@touch $@

$(VENV)/.installed: $(VENV)/.python-ok pyproject.toml
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -e '.[test]'
	@touch $@

run: $(VENV)/.installed
	$(BIN)/flywheel demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

# The sign-on tests start a real OpenID Connect provider (panva/oidc-provider, from npm).
OIDC := tests/oidc
$(OIDC)/node_modules/.installed: $(OIDC)/package.json $(OIDC)/package-lock.json
	@if command -v npm >/dev/null; then cd $(OIDC) && npm ci --no-audit --no-fund --silent && touch node_modules/.installed; \
	else echo "npm not found: the sign-on tests will skip (and fail in CI)"; fi

# Most tests wait on real servers and subprocesses, so more test processes than cores pay off.
PYTEST_WORKERS ?= 4

test: lint typecheck $(OIDC)/node_modules/.installed
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

unit: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

integration: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

e2e: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/audit_append.py --backend both

clean:
	rm -rf $(VENV) .flywheel .pytest_cache .mypy_cache .ruff_cache
