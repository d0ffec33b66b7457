# commerce-sync developer and operator targets. Everything runs offline on 127.0.0.1.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 3000

.PHONY: venv test test-unit test-integration test-e2e lint validate build demo run bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## The whole test suite (unit, integration, end-to-end), on two workers.
test: $(STAMP)
	$(BIN)/pytest -n 2 tests

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit

test-integration: $(STAMP)
	$(BIN)/pytest tests/integration

test-e2e: $(STAMP)
	$(BIN)/pytest tests/e2e

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## sam validate --lint works offline with any region.
validate: $(STAMP)
	AWS_DEFAULT_REGION=us-east-1 $(BIN)/sam validate --lint --template template.yaml

## sam build needs a python3.13 on PATH (pyenv has one on these machines).
build: $(STAMP)
	PATH="$$(pyenv prefix 3.13 2>/dev/null || echo /nonexistent)/bin:$$PATH" $(BIN)/sam build --template template.yaml

## Starts moto, the Mailchimp emulator and the local API, replays events/ and prints what Mailchimp holds.
demo: $(STAMP)
	$(BIN)/python -m local_runner.demo

## The local runner alone, for driving it with your own payloads (see README).
run: $(STAMP)
	$(BIN)/commerce-sync-local --port $(PORT)

bench: $(STAMP)
	@for b in bench/bench_*.py; do [ -e "$$b" ] || continue; echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .ruff_cache .hypothesis
