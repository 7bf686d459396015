# One command to run the portal with demo data, one to run the whole test suite.
#   make run    — virtualenv, install, migrate, demo data, web + Celery worker/beat on :8000
#   make test   — the whole suite on PostgreSQL + Redis (CI calls this)
#   make bench  — the performance benchmarks of DESIGN.md §5 (bench/, README "Performance")

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

# Tests always run on the real services (see README); override to point elsewhere.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/portal
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/1

.PHONY: install run demo test test-fast lint format check-deploy compose-check constraints clean \
	bench bench-data audit

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

install: $(STAMP)

demo: install
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py seed_demo

run: demo
	DEBUG=1 ./scripts/run.sh

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) scripts/audit.py
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m pytest -m "not browser and not worker" --reuse-db $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check-deploy: install
	DEBUG=False SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	SECURE_SSL_REDIRECT=True SECURE_HSTS_SECONDS=31536000 SECURE_HSTS_INCLUDE_SUBDOMAINS=True \
	SECURE_HSTS_PRELOAD=True $(PY) manage.py check --deploy --fail-level WARNING

# Benchmarks: a separate database per scale (portal_bench, portal_bench_10, …) on the same
# PostgreSQL and Redis database 5. They report figures against a floor and never fail the build.
SCALE       ?= 1
BENCH_ARGS  ?=

bench-data: install
	$(PY) -m bench.generate --scale $(SCALE)

bench: install
	-$(PY) -m bench.generate --scale $(SCALE) --if-missing
	-$(PY) -m bench.run --scale $(SCALE) $(BENCH_ARGS)

# Known vulnerabilities in the pinned dependencies (pip-audit; says so when no vulnerability
# database is reachable instead of failing). `make test` runs it.
audit: install
	$(PY) scripts/audit.py

compose-check:
	docker-compose -f docker-compose.yml config -q

# Record the exact versions that were installed together and tested (pip freeze, minus ourselves).
constraints:
	$(PY) -m pip freeze --exclude-editable | grep -v '^oem-ems-portal' > constraints.txt

clean:
	rm -rf $(VENV) var db.sqlite3 .pytest_cache
