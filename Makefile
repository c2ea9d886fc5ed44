# Chalkboard. `make run` serves the demo; `make test` runs the whole suite. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
INSTALLED := $(VENV)/.installed
MANIFEST := var/demo-manifest.json
# Coverage of the code that decides and writes must be complete.
CRITICAL := */services.py,*/selectors.py,*/access.py,*/permissions.py


.PHONY: install run serve serve-production test test-fast lint format lock bench clean

$(INSTALLED): requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.txt
	touch $@

install: $(INSTALLED)

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty --manifest $(MANIFEST)
	$(MAKE) serve

serve: install
	$(BIN)/python -m uvicorn config.asgi:application --host $(HOST) --port $(PORT) --no-access-log

test: install
	$(BIN)/python -m pytest --cov --cov-report=term $(PYTEST_ARGS)
	$(BIN)/python -m coverage report --include='$(CRITICAL)' --fail-under=100

test-fast: install
	$(BIN)/python -m pytest -q -x $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lock:
	$(PYTHON) -m pip install --quiet uv
	cd requirements && $(PYTHON) -m uv pip compile --quiet --python-version 3.11 --generate-hashes -o base.txt base.in
	cd requirements && $(PYTHON) -m uv pip compile --quiet --python-version 3.11 --generate-hashes -o dev.txt dev.in base.in
	cd requirements && $(PYTHON) -m uv pip compile --quiet --python-version 3.11 --generate-hashes -o bench.txt bench.in dev.in base.in

BENCH_INSTALLED := $(VENV)/.installed-bench

$(BENCH_INSTALLED): requirements/bench.txt $(INSTALLED)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/bench.txt
	touch $@

# Seeds the bench dataset into PostgreSQL (once), serves it as in production, drives it with wrk.
bench: $(BENCH_INSTALLED)
	$(BIN)/python -m bench.run

serve-production: install
	bin/serve-production

clean:
	rm -rf $(VENV) var .coverage htmlcov .pytest_cache .mypy_cache .ruff_cache staticfiles
