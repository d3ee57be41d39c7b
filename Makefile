# One command runs the bot, one passes the tests; both set themselves up.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: run test lint migrate venv localnet clean proof

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed: install it, or run: make PYTHON=/path/to/python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): $(PY) requirements.txt requirements-ci.txt
	$(PIP) install --quiet -r requirements-ci.txt
	@touch $(STAMP)

venv: $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py runbot

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The long proofs (crash anywhere x100, races, fuzzing 10,000 cases, a fault storm of 100 trades) on PostgreSQL,
# then the throughput and /positions benchmarks, then one summary table. About 20 minutes.
PROOF_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
proof: $(STAMP)
	rm -rf test-artifacts/proof
	PROOF=1 DATABASE_URL=$(PROOF_DATABASE_URL) $(PY) -m pytest -q tests/proof tests/positions/test_ledger.py \
		tests/wallets/test_wallets.py $(PYTEST_ARGS)
	$(PY) -m bench.throughput --users 100 500 --json test-artifacts/proof/throughput.json
	$(PY) -m bench.positions_reply --positions 10 100 1000 --postgres --json test-artifacts/proof/positions_scaling.json
	@echo; echo "=== Proof summary (test-artifacts/proof/) ==="; $(PY) -m bench.proof_summary

lint: $(STAMP)
	$(VENV)/bin/ruff check .

localnet: $(STAMP)
	$(PY) -m localnet

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
