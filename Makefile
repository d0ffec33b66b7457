# commerce-sync developer and operator targets. Everything runs offline on 127.0.0.1.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 3000

.PHONY: venv lock security test test-unit test-integration test-e2e soak lint validate build demo run bench bench-concurrency bench-product-sync bench-backfill bench-promotions bench-segments bench-aws-calls cost clean

# Installs exactly the versions in constraints.txt (the lock): a release elsewhere cannot change what CI runs.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Re-resolves every dependency (pyproject.toml) in a scratch virtualenv and writes the lock, constraints.txt.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q --upgrade pip
	.lock-venv/bin/pip install -q -e '.[dev]'
	{ echo "# The lock: every package CI installs, at the version it installs (make venv passes it to pip as constraints)."; \
	  echo "# Refresh with 'make lock' (re-resolves pyproject.toml in a scratch virtualenv) and commit the result."; \
	  .lock-venv/bin/pip freeze --exclude-editable | sed '/^commerce-sync/d'; } > constraints.txt
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q --upgrade pip
	.lock-venv/bin/pip install -q checkov
	{ echo "# checkov's own lock (make security installs it into .checkov-venv; it pins boto3 and others apart from constraints.txt)."; \
	  echo "# Refresh with 'make lock' and commit the result."; \
	  .lock-venv/bin/pip freeze; } > constraints-checkov.txt
	rm -rf .lock-venv

## The whole test suite (unit, integration, end-to-end), on two workers.
test: $(STAMP)
	$(BIN)/pytest -n 2 tests

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit

test-integration: $(STAMP)
	$(BIN)/pytest tests/integration

test-e2e: $(STAMP)
	$(BIN)/pytest tests/e2e

## The chaos soak (docs/soak.md): SOAK_DELIVERIES webhook deliveries across six stores while Mailchimp injects
## faults and goes down for SOAK_OUTAGE_SECONDS, then the dead letters replayed and Mailchimp compared with the
## ground truth. Prints the report and writes it as JSON to SOAK_REPORT; the functions' logs go to SOAK_LOG.
## Smaller: make soak SOAK_DELIVERIES=1000. SOAK_ARGS goes to pytest.
SOAK_DELIVERIES ?= 10000
SOAK_SEED ?= 1
SOAK_OUTAGE_SECONDS ?= 30
SOAK_SENDERS ?= 4
SOAK_REPORT ?= .local/soak-report.json
SOAK_LOG ?= .local/soak.log
SOAK_ARGS ?=
soak: $(STAMP)
	@mkdir -p $(dir $(SOAK_REPORT)) $(dir $(SOAK_LOG))
	SOAK_DELIVERIES=$(SOAK_DELIVERIES) SOAK_SEED=$(SOAK_SEED) SOAK_OUTAGE_SECONDS=$(SOAK_OUTAGE_SECONDS) \
	  SOAK_SENDERS=$(SOAK_SENDERS) SOAK_REPORT=$(SOAK_REPORT) \
	  $(BIN)/pytest -n 0 -s -q tests/soak $(SOAK_ARGS) 2>$(SOAK_LOG)

## ruff, the import contracts (pyproject: [tool.importlinter]) and mypy on the layer, the handlers and the CLI.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy layers/commerce_sync/commerce_sync functions/*/app.py operator_cli

## checkov on the template (its own virtualenv and lock: its pins differ from ours). Each accepted finding is
## skipped inline in template.yaml with its reason (`# checkov:skip=ID:reason`); any other fails the target.
CHECKOV_STAMP := .checkov-venv/.installed
$(CHECKOV_STAMP): constraints-checkov.txt
	$(PYTHON) -m venv .checkov-venv
	.checkov-venv/bin/pip install -q --upgrade pip
	.checkov-venv/bin/pip install -q -c constraints-checkov.txt checkov
	touch $(CHECKOV_STAMP)

# --skip-download: nothing is fetched from Prisma Cloud (offline here; its guidelines only add links).
security: $(CHECKOV_STAMP)
	.checkov-venv/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

## sam validate --lint works offline with any region.
validate: $(STAMP)
	AWS_DEFAULT_REGION=us-east-1 $(BIN)/sam validate --lint --template template.yaml

## sam build needs a python3.13 on PATH (pyenv has one on these machines). What it builds is then compiled to bytecode
## by that Python (the runtime's version): Lambda's /var/task and /opt are read-only, so a package without .pyc files
## compiles every module of ours at every cold start (cart_events' import 754 -> 420 ms here: docs/performance.md).
## unchecked-hash: the .pyc is used as it is, whatever the files' times in the zip.
build: $(STAMP)
	export PATH="$$(pyenv prefix 3.13 2>/dev/null || echo /nonexistent)/bin:$$PATH"; \
	  $(BIN)/sam build --template template.yaml && \
	  python3.13 -m compileall -q --invalidation-mode unchecked-hash .aws-sam/build

## Starts moto, the Mailchimp emulator and the local API, replays events/ and prints what Mailchimp holds.
demo: $(STAMP)
	$(BIN)/python -m local_runner.demo

## The local runner alone, for driving it with your own payloads (see README).
run: $(STAMP)
	$(BIN)/commerce-sync-local --port $(PORT)

## Every bench/bench_*.py but the backfill's, the promotions', the segments', the product sync's and the concurrency
## one (minutes each at their default size: their own targets), then docs/performance.md rendered from every result
## in .bench-results/ (bench/report.py; the long benches' last results included). About 10 minutes on a 2-core machine.
## With valgrind on PATH the cold start also counts each import's CPU instructions (load-independent; 2 minutes more).
BENCH_EVENTS_ARGS ?= --events 5000 --warmup 500
bench: $(STAMP)
	@for b in bench/bench_*.py; do [ -e "$$b" ] || continue; \
	  case "$$b" in bench/bench_backfill.py|bench/bench_promotions.py|bench/bench_segments.py|bench/bench_product_sync.py|\
	    bench/bench_concurrency.py) continue;; \
	    bench/bench_cart_events.py|bench/bench_order_events.py) args="$(BENCH_EVENTS_ARGS)";; \
	    bench/bench_cold_start.py) args="$$(command -v valgrind >/dev/null && echo --instructions)";; *) args="";; esac; \
	  echo "== $$b $$args"; $(BIN)/python $$b $$args || exit 1; done
	$(BIN)/python bench/report.py --print

## Issue 24: the whole function set with concurrency on, through the local runner (about 3 minutes on a quiet
## machine, 7 beside other work: out of make bench).
bench-concurrency: $(STAMP)
	$(BIN)/python bench/bench_concurrency.py

## Issue 5: the nightly catalog sync at 100,000 products (minutes). Smaller: make bench-product-sync BENCH_PRODUCT_SYNC_ARGS="--products 20000"
BENCH_PRODUCT_SYNC_ARGS ?=
bench-product-sync: $(STAMP)
	$(BIN)/python bench/bench_product_sync.py $(BENCH_PRODUCT_SYNC_ARGS)
	$(BIN)/python bench/report.py

## The backfill and reconciliation benchmark (issue 11). Smaller: make bench-backfill BENCH_BACKFILL_ARGS="--orders 5000 --customers 1000 --products 1000"
BENCH_BACKFILL_ARGS ?=
bench-backfill: $(STAMP)
	$(BIN)/python bench/bench_backfill.py $(BENCH_BACKFILL_ARGS)
	$(BIN)/python bench/report.py

## The promotions benchmark (issue 12): 10,000 rules with 100,000 codes. Smaller: make bench-promotions BENCH_PROMOTIONS_ARGS="--rules 1000 --single-use-codes 10000"
BENCH_PROMOTIONS_ARGS ?=
bench-promotions: $(STAMP)
	$(BIN)/python bench/bench_promotions.py $(BENCH_PROMOTIONS_ARGS)

## The segments benchmark (issue 14): the nightly pass over 1,000,000 customers' aggregates. Smaller:
## make bench-segments BENCH_SEGMENTS_ARGS="--aggregates 20000 --moto-aggregates 2000 --evaluate 20000"
BENCH_SEGMENTS_ARGS ?=
bench-segments: $(STAMP)
	$(BIN)/python bench/bench_segments.py $(BENCH_SEGMENTS_ARGS)

## AWS requests per event by function and operation (issue 17), counted at the local runner's moto server; writes
## .bench-results/aws_calls.json for docs/performance.md. Quicker: make bench-aws-calls BENCH_AWS_CALLS_ARGS="--events 20"
BENCH_AWS_CALLS_ARGS ?=
bench-aws-calls: $(STAMP)
	$(BIN)/python bench/bench_aws_calls.py $(BENCH_AWS_CALLS_ARGS)

## What a million events cost (issue 22): usage measured on the local runner times bench/aws_prices.csv; writes
## .bench-results/cost.json. Options: make cost COST_ARGS="--events 80 --mailchimp-latency-ms 200"
COST_ARGS ?=
cost: $(STAMP)
	$(BIN)/python bench/bench_cost.py $(COST_ARGS)

clean:
	rm -rf $(VENV) .lock-venv .aws-sam .pytest_cache .ruff_cache .mypy_cache .hypothesis
