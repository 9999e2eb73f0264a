# Smart Customs — the two commands a user needs are `make run` and `make test`.
# Everything is installed into the repository: Python into .venv/, Node tools into
# node_modules/, Debian packages (mosquitto) through apt when missing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# loadgroup: tests marked xdist_group (the README test's sections) stay on one worker
PYTEST_ARGS ?= -n 2 --dist loadgroup

.PHONY: setup run test lint bench clean distclean system python node brownie

setup: system python node

python: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

node: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

system:
	@scripts/install-system.sh

run: setup
	$(BIN)/smartcustoms run

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: setup
	@for b in scripts/bench/[a-z]*.py; do echo "$$b"; $(PY) $$b || exit 1; done

# Optional: brownie in its own environment (it pins old web3/pytest), using our solc bridge.
brownie: node
	@test -x .venv-brownie/bin/brownie || ($(PYTHON) -m venv .venv-brownie && \
		.venv-brownie/bin/pip install --quiet eth-brownie)
	mkdir -p $(HOME)/.solcx && ln -sf $(CURDIR)/chain/bin/solc $(HOME)/.solcx/solc-v0.8.30
	.venv-brownie/bin/brownie compile

clean:
	rm -rf .pytest_cache .ruff_cache .mypy_cache .hypothesis build
	find . -name __pycache__ -type d -prune -not -path './node_modules/*' -exec rm -rf {} +

# Also removes chain state, keys and databases under var/.
distclean: clean
	rm -rf $(VENV) .venv-brownie node_modules var build reports
