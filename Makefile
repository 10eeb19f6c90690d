# Every target installs what it needs first: the Python closure exactly as uv.lock pins it (into .venv,
# by uv, itself pinned below and in the lock) and the npm packages exactly as devnet/package-lock.json pins them.
PY := .venv/bin/python
UV := .venv/bin/uv
UV_VERSION := 0.13.10
PIP_STAMP := .venv/.installed
NPM_STAMP := devnet/node_modules/.installed
# Never let uv fetch a Python build of its own: the machine's python3 is the interpreter.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: setup demo test lint bench lock
setup: $(PIP_STAMP) $(NPM_STAMP)

$(PIP_STAMP): pyproject.toml uv.lock
	python3 -m venv .venv
	.venv/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) sync --locked --extra dev --python $(PY)
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
	.venv/bin/pytest -n 2 --dist loadfile -q -p no:cacheprovider

bench: setup
	.venv/bin/op-batcher bench

# Re-resolve every transitive dependency to its newest release allowed by pyproject.toml (whose direct
# pins change by hand), then reinstall exactly the new lock. Commit pyproject.toml and uv.lock together.
lock: $(PIP_STAMP)
	$(UV) lock --upgrade
	$(UV) sync --locked --extra dev --python $(PY)
	touch $(PIP_STAMP)
