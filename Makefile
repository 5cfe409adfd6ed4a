# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
# What phones reach; follows HOST/PORT unless set in the environment.
export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: run test setup setup-dev system-test-deps certs db demo lint format bench clean

run: setup certs db demo  ## set everything up; serve on http://127.0.0.1:5000 with the push worker
	@$(FLASK) worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT)

test: setup-dev system-test-deps  ## set up and run the whole suite (SQLite + PostgreSQL + Redis + Chromium)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# Debian's Chromium for the browser tests, and PostgreSQL server binaries for the
# PostgreSQL half of the suite; installed only where missing.
system-test-deps:
	@command -v chromium >/dev/null 2>&1 || $(call apt_install,chromium)
	@(command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1) \
		|| $(call apt_install,postgresql)
	@command -v redis-server >/dev/null 2>&1 || $(call apt_install,redis-server)

define apt_install
	(echo "installing $(1) with apt-get"; \
	 SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	 $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(1) >/dev/null)
endef

certs: setup  ## development certificates (skipped when real ones are configured)
	$(FLASK) dev-certs

db: setup  ## apply migrations to DATABASE_URL (default: SQLite in instance/)
	$(FLASK) init-db

demo: setup db  ## idempotent demo program, stores and members
	$(FLASK) demo

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup-dev  ## benchmarks; results go to docs/performance.md by hand
	$(BIN)/python bench/passgen.py
	$(BIN)/python bench/webservice.py
	$(BIN)/python bench/google_wallet.py
	$(BIN)/python bench/push_fanout.py
	$(BIN)/python bench/pos_cpu.py
	$(BIN)/python bench/pos_load.py

clean:
	rm -rf $(VENV) instance certs/dev .pytest_cache .ruff_cache
