# Two commands on a fresh machine:
#   make run    set up, migrate, load demo data, serve on http://127.0.0.1:8080
#   make test   set up and run the tests in a loopback-only network namespace
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# axe-core (Deque's accessibility engine, npm) for the page tests: installed here because the
# tests run without network; never committed.
AXE_VERSION ?= 4.14.1
AXE := $(VENV)/axe/node_modules/axe-core/axe.min.js

FUZZ_SCALE ?= 25
FUZZ_SEED ?= 20261203

.PHONY: setup run test fuzz screenshots docs bench-join-storm lint bench bench-attendance bench-fanout bench-join-burst bench-login-flood clean

setup: $(STAMP) $(AXE)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(AXE):
	npm install --prefix $(VENV)/axe --no-audit --no-fund --silent axe-core@$(AXE_VERSION)

run: setup
	$(BIN)/kohtaamo db upgrade
	$(BIN)/kohtaamo demo
	KOHTAAMO_DEMO_FEED=1 KOHTAAMO_PUBLIC_URL=$${KOHTAAMO_PUBLIC_URL:-http://127.0.0.1:8080} $(BIN)/kohtaamo serve

# The tests run inside a fresh network namespace that holds only `lo`, so no packet can
# leave loopback (unshare -rn works unprivileged; as root plain -n would do too).
# PostgreSQL cannot start inside it, so tests/pgcluster.py starts a throw-away cluster first
# (Unix socket only, removed afterwards) and the database tests run on it and on SQLite.
# TEST_POSTGRES=0 skips the cluster (its tests are then skipped, visibly).
TEST_POSTGRES ?= 1
test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	KOHTAAMO_TEST_POSTGRES=$(TEST_POSTGRES) $(BIN)/python -m tests.pgcluster run -- \
	  unshare -rn sh -c 'ip link set lo up && exec $(BIN)/python -m pytest $(PYTEST_ARGS)'

# The fuzz suite with a larger budget (`make test` runs it at KOHTAAMO_FUZZ_SCALE=1, a few
# thousand cases in ~15 s); FUZZ_SEED=N draws other cases.
fuzz: setup
	KOHTAAMO_FUZZ_SCALE=$(FUZZ_SCALE) KOHTAAMO_FUZZ_SEED=$(FUZZ_SEED) unshare -rn sh -c 'ip link set lo up && exec $(BIN)/python -m pytest tests/test_fuzz.py $(PYTEST_ARGS)'

# The pictures in docs/img/ (docs/librarian.md): a demo server photographed by Chromium.
screenshots: setup
	unshare -rn sh -c 'ip link set lo up && exec $(BIN)/python -m tools.screenshots'

# Regenerate the tables in docs/ from the code (tests/test_docs.py fails while they differ).
docs: setup
	$(BIN)/kohtaamo docs --write

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup
	unshare -rn sh -c 'ip link set lo up && exec $(BIN)/python -m bench.forwarding $(BENCH_ARGS)'

bench-attendance: setup
	unshare -rn sh -c 'ip link set lo up && exec $(BIN)/python -m bench.attendance $(BENCH_ARGS)'

bench-join-burst: setup
	$(BIN)/python -m bench.join_burst $(BENCH_ARGS)

# A join storm (100 WHEP viewers and pages in 5 s): /healthz latency, loop lag, failed joins.
bench-join-storm: setup
	unshare -rn sh -c 'ip link set lo up && exec $(BIN)/python -m bench.join_storm $(BENCH_ARGS)'

# Fan-out at scale (hundreds of cheap viewers); writes bench/results/fanout-latest.md.
bench-fanout: setup
	unshare -rn sh -c 'ip link set lo up && exec $(BIN)/python -m bench.fanout $(BENCH_ARGS)'

# A login flood (20 clients, wrong passwords) against a live broadcast: /healthz and viewers' fps.
bench-login-flood: setup
	unshare -rn sh -c 'ip link set lo up && exec $(BIN)/python -m bench.login_flood $(BENCH_ARGS)'

clean:
	rm -rf $(VENV) var/*.sqlite3* test-artifacts
