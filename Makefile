# Chalkboard. `make run` serves the demo; `make test` runs the whole suite. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
INSTALLED := $(VENV)/.installed
MANIFEST := var/demo-manifest.json
# Coverage (lines and branches) of every module that decides or writes must be complete: all of chalkboard/
# but the demo's seeding and the two socket modules whose Redis-only paths only one of the two passes runs.
COMPLETE := chalkboard/*
COMPLETE_EXCEPT := */demo/*,*/realtime/consumers.py,*/realtime/publishing.py
# The suite runs on every core (pytest-xdist); TEST_WORKERS=0 runs it in one process. An idle worker takes
# tests queued for a busy one (worksteal), so a few slow tests at the end do not leave a core idle.
TEST_WORKERS ?= auto
DIST = $(if $(filter 0,$(TEST_WORKERS)),,--dist worksteal)
# Total coverage may not fall below the last landed figure for the database the suite ran on.
COVERAGE_BACKEND := $(if $(findstring postgres,$(DATABASE_URL)),postgresql,sqlite)
COVERAGE_FLOOR = $(shell sed -n 's/^$(COVERAGE_BACKEND) *= *//p' coverage-floor.txt)
# Code that only one database can run (marked "# only on PostgreSQL", "# only on SQLite") counts in its pass only.
HASH := \#
THIS_DATABASE := $(if $(findstring postgres,$(DATABASE_URL)),PostgreSQL,SQLite)
export COVERAGE_OTHER_DATABASE_ONLY := $(HASH) only on $(if $(findstring postgres,$(DATABASE_URL)),SQLite,PostgreSQL)
# COVERAGE_SCOPE=own (CI's pass on the embedded default, after the PostgreSQL pass has measured everything
# else): the whole suite runs, and coverage is measured, and must be complete, only in the modules with code
# that this database alone runs, by the tests of their apps (tests/<app>/). The rest of the suite runs
# without coverage's tracer: on Python 3.11 a trace function slows all code, measured or not (the
# permission matrix took 56 s without it, 96 s measuring one module, 105 s measuring everything).
COVERAGE_SCOPE ?= all
# The API fuzz is the suite's heaviest part and adds no line or branch to the coverage (on PostgreSQL without
# it: 99.72% in all and 100% of the code that must be complete, as with it): it runs after the measured suite,
# without the tracer. (Exit status 5: PYTEST_ARGS left none of its tests to run.)
UNMEASURED := tests/security/test_schemathesis.py
OWN_MODULES = $(shell grep -rl --include='*.py' "$(HASH) only on $(THIS_DATABASE)" chalkboard config | sed 's/\.py$$//; s|/|.|g')
OWN_TESTS = $(sort $(wildcard $(foreach module,$(OWN_MODULES),tests/$(word 2,$(subst ., ,$(module))))))


.PHONY: install run serve serve-production test test-fast lint audit format lock bench clean

# The locks are complete (every package, pinned, with its hashes): pip installs them as they are and
# resolves nothing against the index (--no-deps), takes wheels only so no build step fetches unpinned build
# tools (--only-binary), then checks that what it installed agrees with itself (pip check). A release
# published tomorrow changes nothing here.
PIP_INSTALL_LOCK := $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --only-binary :all: --require-hashes -r

$(INSTALLED): requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL_LOCK) requirements/dev.txt
	$(BIN)/python -m pip check
	touch $@

install: $(INSTALLED)

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty --manifest $(MANIFEST)
	$(MAKE) serve

serve: install
	$(BIN)/python -m uvicorn config.asgi:application --host $(HOST) --port $(PORT) --no-access-log

test: install
ifeq ($(COVERAGE_SCOPE),own)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(DIST) $(addprefix --cov=,$(OWN_MODULES)) --cov-report=term \
	  $(OWN_TESTS) $(PYTEST_ARGS)
	$(BIN)/python -m coverage report --fail-under=100
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(DIST) $(addprefix --ignore=,$(OWN_TESTS)) $(PYTEST_ARGS)
else
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(DIST) --cov --cov-report=term --ignore=$(UNMEASURED) $(PYTEST_ARGS)
	$(BIN)/python -m coverage report --include='$(COMPLETE)' --omit='$(COMPLETE_EXCEPT)' --fail-under=100
	@echo "total coverage on $(COVERAGE_BACKEND) must stay at or above $(COVERAGE_FLOOR)% (coverage-floor.txt):"
	$(BIN)/python -m coverage report --precision=2 --fail-under=$(COVERAGE_FLOOR) --format=total
	@echo "the API fuzz, unmeasured:"
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(DIST) $(UNMEASURED) $(PYTEST_ARGS) || [ $$? -eq 5 ]
endif

test-fast: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(DIST) -q -x $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports --no-cache
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

# Security checks: bandit over the shipped code, then pip-audit over the pinned runtime dependencies
# (hashed lock) against PyPI's vulnerability data (PIP_AUDIT_ARGS may name another service, e.g.
# `-s osv`). A known vulnerability fails the audit. So does a service that gives no data, unless
# AUDIT_OFFLINE=warn: then it says so loudly and goes on.
AUDIT_OFFLINE ?= fail
PIP_AUDIT_ARGS ?=
audit: install
	$(BIN)/bandit -q -r chalkboard config -c pyproject.toml
	@mkdir -p var/pip-audit
	@out=$$($(BIN)/pip-audit --strict --disable-pip --progress-spinner off --cache-dir var/pip-audit \
	    $(PIP_AUDIT_ARGS) -r requirements/base.txt 2>&1); status=$$?; echo "$$out"; \
	if [ $$status -eq 0 ]; then exit 0; fi; \
	if echo "$$out" | grep -qE "could not be audited|Connection|HTTPError|timed out"; then \
	  echo "!!! pip-audit got no vulnerability data from its service: the dependencies were NOT audited."; \
	  if [ "$(AUDIT_OFFLINE)" = "warn" ]; then echo "!!! AUDIT_OFFLINE=warn: going on without it."; exit 0; fi; \
	fi; \
	exit $$status

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# uv is pinned too, so that the same .in files compile the same way. Its output lists every package
# the requirements need, so the locks install with --no-deps as above.
UV_VERSION := 0.13.8
lock:
	$(PYTHON) -m pip install --quiet uv==$(UV_VERSION)
	cd requirements && $(PYTHON) -m uv pip compile --quiet --python-version 3.11 --generate-hashes -o base.txt base.in
	cd requirements && $(PYTHON) -m uv pip compile --quiet --python-version 3.11 --generate-hashes -o dev.txt dev.in base.in
	cd requirements && $(PYTHON) -m uv pip compile --quiet --python-version 3.11 --generate-hashes -o bench.txt bench.in dev.in base.in

BENCH_INSTALLED := $(VENV)/.installed-bench

$(BENCH_INSTALLED): requirements/bench.txt $(INSTALLED)
	$(PIP_INSTALL_LOCK) requirements/bench.txt
	$(BIN)/python -m pip check
	touch $@

# Seeds the bench dataset into PostgreSQL (once), serves it as in production, drives it with wrk.
bench: $(BENCH_INSTALLED)
	$(BIN)/python -m bench.run

serve-production: install
	bin/serve-production

clean:
	rm -rf $(VENV) var .coverage htmlcov .pytest_cache .mypy_cache .ruff_cache staticfiles
