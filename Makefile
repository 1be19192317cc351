# Moyai — two commands for a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null)
SCALE ?= 1.0
export UV_PYTHON_DOWNLOADS := never

.PHONY: install system-deps demo test test-sqlite test-postgresql lint bench clean assets

# System packages (Debian): Japanese fonts (IPAmj明朝 for names, IPAex, Noto CJK), HarfBuzz's
# subsetter and Pango for WeasyPrint, poppler-utils (pdffonts, pdftoppm) for the certificate tests.
SYSTEM_PACKAGES := fonts-ipaexfont fonts-ipamj-mincho fonts-noto-cjk libharfbuzz-subset0 \
	libpango-1.0-0 libpangoft2-1.0-0 poppler-utils zbar-tools chromium

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "apt-get install$$missing"; apt-get update -qq && apt-get install -y -qq $$missing; fi

$(BIN)/python: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	uv sync --frozen --python $(PYTHON) --quiet
	@touch $(BIN)/python

install: system-deps $(BIN)/python

demo: install
	$(BIN)/moyai demo --scale $(SCALE)

# The two backends' suites are independent (in-memory SQLite / their own PostgreSQL test database,
# free ports, temporary directories), so they run side by side on the two cores; -Otarget keeps each
# suite's output together. `make test-sqlite` / `make test-postgresql` run one.
test: install
	@$(MAKE) --no-print-directory -j2 -Otarget test-sqlite test-postgresql

test-sqlite:
	$(BIN)/pytest -q -p no:cacheprovider -m "not postgresql"

# With CI=true an unreachable PostgreSQL fails the run; elsewhere it is reported and skipped.
test-postgresql:
	@if $(BIN)/python -c "import psycopg; psycopg.connect('host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3').close()" 2>/dev/null; then \
		MOYAI_DB=postgresql $(BIN)/pytest -q -p no:cacheprovider; \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL (127.0.0.1:5432) に接続できません: CI では PostgreSQL のテストを省略できません" >&2; exit 1; \
	else \
		echo "注意: PostgreSQL (127.0.0.1:5432) に接続できないため PostgreSQL のテストを省略しました" >&2; \
	fi

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	MOYAI_SQLITE_PATH=/tmp/moyai-makemigrations-check.sqlite3 $(BIN)/moyai manage makemigrations --check --dry-run

bench: install
	$(BIN)/python bench/registry.py
	$(BIN)/python bench/portability.py

# Counter UI static files (design tokens as CSS custom properties, stylesheet, htmx) rebuilt from
# frontend/ with npm; the built files in src/moyai/ui/static/ui/ are committed, so demo and test need no Node.
assets:
	cd frontend && npm ci --no-audit --no-fund && npm run build

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
