# One command runs the bot, one passes the tests; both set themselves up.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
# pip-compile and pip-audit live in a venv of their own, so their dependencies never mix with the app's
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
# Lock against the package index alone: no pip.conf or PIP_* find-links / extra indexes of this machine
LOCK_ENV := env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL PIP_CONFIG_FILE=/dev/null \
	CUSTOM_COMPILE_COMMAND="make lock"
COMPILE := $(LOCK_ENV) $(TOOLS)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links
NEED_PYTHON := command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed: install it, or run: make PYTHON=/path/to/python3.11 ..."; exit 1; }

.PHONY: run test lint migrate venv localnet sandbox lock audit clean proof

$(PY):
	@$(NEED_PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes -r requirements-pip.txt

# Every pin is hashed; pip refuses anything unpinned, unhashed, or whose file does not match its hash
$(STAMP): $(PY) requirements-pip.txt requirements.txt requirements-ci.txt
	$(PIP) install --quiet --require-hashes -r requirements-ci.txt
	@touch $(STAMP)

venv: $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

# Every missing setting is named at once, before the first migration
run: $(STAMP)
	@$(PY) manage.py checkconfig
	$(PY) manage.py migrate --noinput
	$(PY) manage.py runbot

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The long proofs (crash anywhere x150, 50 of them with orders, races, fuzzing 10,000 cases, a fault storm of 100
# trades) on PostgreSQL, then the benchmarks (throughput, /positions, inspection, landing, Jupiter's budget, MEV,
# orders, paper against real), then one summary table. About 20 minutes.
# Every step runs even if one before it failed, so the table always shows what was measured; the target still fails
# if any step failed or the table has a proof missing or FAILED.
PROOF_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
proof: $(STAMP)
	rm -rf test-artifacts/proof
	@status=0; \
	PROOF=1 DATABASE_URL=$(PROOF_DATABASE_URL) $(PY) -m pytest -q tests/proof tests/positions/test_ledger.py \
		tests/wallets/test_wallets.py $(PYTEST_ARGS) || status=1; \
	$(PY) -m bench.throughput --users 100 500 --json test-artifacts/proof/throughput.json || status=1; \
	$(PY) -m bench.positions_reply --positions 10 100 1000 --postgres \
		--json test-artifacts/proof/positions_scaling.json || status=1; \
	$(PY) -m bench.inspection_latency --swaps 200 --json test-artifacts/proof/inspection_latency.json || status=1; \
	$(PY) -m bench.landing --trades 200 --json test-artifacts/proof/landing.json || status=1; \
	$(PY) -m bench.jupiter_budget --json test-artifacts/proof/jupiter_budget.json || status=1; \
	$(PY) -m bench.mev --buys 20 --json test-artifacts/proof/mev.json || status=1; \
	$(PY) -m bench.orders_cycle --json test-artifacts/proof/orders_cycle.json || status=1; \
	$(PY) -m bench.orders_latency --json test-artifacts/proof/orders_latency.json || status=1; \
	$(PY) -m bench.paper_vs_real --json test-artifacts/proof/paper_vs_real.json || status=1; \
	echo; echo "=== Proof summary (test-artifacts/proof/) ==="; \
	$(PY) -m bench.proof_summary || status=1; \
	exit $$status

# ruff over everything, then mypy over the kernel (typed strictly where it is cheap: see [tool.mypy] in pyproject.toml)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy kernel/

localnet: $(STAMP)
	$(PY) -m localnet

# The whole bot in a browser, offline: localnet (prices walking on their own), the bot, the admin and a web chat page
# that behaves like Telegram; its own fresh database in .sandbox/. Prints the URL and the demo staff account.
sandbox: $(STAMP)
	$(PY) -m sandbox $(SANDBOX_ARGS)

$(TOOLS)/bin/python:
	@$(NEED_PYTHON)
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --require-hashes -r requirements-pip.txt

$(TOOLS_STAMP): $(TOOLS)/bin/python requirements-pip.txt requirements-tools.txt
	$(TOOLS)/bin/pip install --quiet --require-hashes -r requirements-tools.txt
	@touch $(TOOLS_STAMP)

# Recompile the hashed requirements from the .in files; pins already in the .txt files are kept. To move a direct
# dependency edit its version in the .in file; a transitive one: make lock LOCK_ARGS="--upgrade-package idna==3.21"
lock: $(TOOLS_STAMP)
	$(COMPILE) $(LOCK_ARGS) -o requirements-pip.txt requirements-pip.in
	$(COMPILE) $(LOCK_ARGS) -o requirements.txt requirements.in
	$(COMPILE) $(LOCK_ARGS) -o requirements-ci.txt requirements-ci.in
	$(COMPILE) $(LOCK_ARGS) -o requirements-tools.txt requirements-tools.in

# Check the pins (not the installed venv) against known vulnerabilities; fails if any pin could not be checked.
# Default service: the package index's JSON API; AUDIT_ARGS="-s osv" asks OSV instead.
audit: $(TOOLS_STAMP)
	$(TOOLS)/bin/pip-audit --strict --disable-pip --require-hashes --progress-spinner off $(AUDIT_ARGS) \
		-r requirements-pip.txt -r requirements.txt -r requirements-ci.txt -r requirements-tools.txt

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache .mypy_cache
