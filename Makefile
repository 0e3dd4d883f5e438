# The two commands a new machine needs: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# make demo PORT=8123 serves the demo (and points its .qwc files) at another port.
PORT ?= 8000
DEMO_URL := http://127.0.0.1:$(PORT)
# Skip reasons are printed by default, so a skipped test always says why.
PYTEST_ARGS ?= -ra

.PHONY: demo test install lint bench chromium

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found; set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Runs the portal with demo data on http://127.0.0.1:$(PORT) (SQLite under var/, tasks in
# process). SITE_URL follows PORT, so the .qwc files and connector pages name the right port.
demo: $(STAMP)
	@$(PY) scripts/port_free.py 127.0.0.1 $(PORT)
	DEBUG=true SITE_URL=$(DEMO_URL) $(PY) manage.py migrate --noinput
	DEBUG=true SITE_URL=$(DEMO_URL) $(PY) manage.py seed_demo
	@echo ""
	@echo "Mapping Portal: $(DEMO_URL)  (log in with the demo admin printed above)"
	DEBUG=true SITE_URL=$(DEMO_URL) $(PY) manage.py runserver 127.0.0.1:$(PORT)

chromium:
	@sh scripts/ensure-chromium

# Installs everything and runs the whole suite (browser tests included). Uses DATABASE_URL and
# REDIS_URL when set (CI: PostgreSQL and Redis), else SQLite and no broker.
test: $(STAMP) chromium
	DEBUG=true $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	DEBUG=true $(PY) -m bench
