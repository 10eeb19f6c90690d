# Every target installs what it needs first (Python venv in .venv, pinned npm packages in devnet/).
PY := .venv/bin/python
PIP_STAMP := .venv/.installed
NPM_STAMP := devnet/node_modules/.installed

.PHONY: setup demo test lint bench
setup: $(PIP_STAMP) $(NPM_STAMP)

$(PIP_STAMP): pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -e '.[dev]'
	touch $@

$(NPM_STAMP): devnet/package-lock.json
	npm ci --no-audit --no-fund --prefix devnet
	touch $@

demo: setup
	.venv/bin/op-devnet up --duration 120

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy common batcher proposer devnet

test: lint
	.venv/bin/pytest -n 2 --dist loadgroup -q -p no:cacheprovider

bench: setup
	.venv/bin/op-batcher bench
