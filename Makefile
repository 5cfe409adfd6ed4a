# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pytest-xdist processes for `make test`: the suite mostly waits on one core (the
# databases, Chromium, subprocesses), so two halve its time on this 2-core
# machine; TEST_PROCESSES=0 runs it in one process.
TEST_PROCESSES ?= 2
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
# What phones reach; follows HOST/PORT unless set in the environment.
export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: run test setup setup-dev system-test-deps certs db demo lint format bench clean \
	messages translations

run: setup certs db demo  ## set everything up; serve on http://127.0.0.1:5000 with the push worker
	@echo ""
	@echo "  Sign-up:    $(PUBLIC_BASE_URL)/join"
	@echo "  Till:       $(PUBLIC_BASE_URL)/pos    key: $(FLASK) api-key create --role pos --store msk-atrium"
	@echo "  Dashboard:  $(PUBLIC_BASE_URL)/admin  key: $(FLASK) api-key create --role marketer"
	@echo "  API docs:   $(PUBLIC_BASE_URL)/api/docs"
	@echo ""
	@$(FLASK) worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT)

test: setup-dev system-test-deps  ## set up and run the whole suite (SQLite + PostgreSQL + Redis + Chromium)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) $(PYTEST_ARGS)

setup: $(VENV)/.runtime translations
setup-dev: $(VENV)/.dev translations

# gettext catalogs: app/translations (domain "messages") and passes/translations
# (domain "passes"); English is the source language and has no catalog.
CATALOGS := app/translations:messages:app,templates passes/translations:passes:passes
KEYWORDS := -k N_ -k NC_:1c,2 -k plural:2,3 -k plural_forms:2,3
PO_FILES := $(wildcard app/translations/*/LC_MESSAGES/*.po passes/translations/*/LC_MESSAGES/*.po)

translations: $(PO_FILES:.po=.mo)  ## compile the .po catalogs (the set-up does it)

%.mo: %.po | $(VENV)/.runtime
	$(BIN)/pybabel compile --statistics -i $< -o $@  # fuzzy entries are left out

messages: setup  ## extract the texts and update the .po catalogs (then translate and `make translations`)
	@set -e; for entry in $(CATALOGS); do \
		dir=$${entry%%:*}; rest=$${entry#*:}; domain=$${rest%%:*}; inputs=$$(echo $${rest#*:} | tr , ' '); \
		pot=$$(mktemp); \
		$(BIN)/pybabel extract -F babel.cfg $(KEYWORDS) --no-location --sort-output \
			--project wallet-loyalty -o $$pot $$inputs; \
		$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -D $$domain -i $$pot -d $$dir -l ru; \
		rm -f $$pot; \
	done
	@echo "now translate the new empty msgstr entries (tests/passes/test_translations.py lists them)"

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
	$(BIN)/mypy

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
	rm -rf $(VENV) instance certs/dev .pytest_cache .ruff_cache .mypy_cache
	find app/translations passes/translations -name '*.mo' -delete
