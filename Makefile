# Zettaledger: `make demo` and `make test` set everything up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements-lock.txt | sha256sum | cut -c1-12)
export ZL_VAR_DIR ?= $(CURDIR)/var
DEMO_SIZE ?= 1.0

.PHONY: help k8s-check setup chromium kafka-fetch kafka-start kafka-stop demo test faults security bench test-unit test-integration lint format typecheck lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements-lock.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (3.11+)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c requirements-lock.txt -e '.[dev,embedded]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP) kafka-fetch chromium ## virtualenv, Python dependencies, Kafka broker jars, headless Chromium

chromium: ## Debian's chromium for the HTML report's screenshot test: installed when missing (as root), else how to
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium (headless screenshots of the HTML report)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "chromium is missing: run 'sudo apt-get install -y chromium' (the HTML report's screenshot tests skip without it)"; fi

kafka-fetch: ## fetch the pinned Kafka broker jars from Maven Central (cached)
	@scripts/kafka.sh fetch

kafka-start: kafka-fetch ## start the single-node KRaft broker on 127.0.0.1:9092
	@scripts/kafka.sh start

kafka-stop: ## stop the broker
	@scripts/kafka.sh stop

demo: setup ## start Kafka, produce the national stream, run the worker until caught up, print the report
	@scripts/demo.sh $(DEMO_SIZE)

test: setup ## the whole suite: unit, and integration (with the fast fault subset) on the real broker and chDB
	$(PY) -m pytest tests

faults: setup ## the fault-injection suite on the real broker and chDB (about 6 minutes)
	$(PY) -m tests.faults.run

security: setup ## the hostile-input suite (issue 10) on the real broker and chDB, one line a case (about a minute)
	$(PY) -m tests.security.run

bench: setup ## throughput against the naive path and the decode limit (bench/run.py)
	$(PY) -m bench.run

test-unit: $(STAMP) ## unit tests only (no broker)
	$(PY) -m pytest tests/unit

k8s-check: ## render k8s/ (base and overlays), kubeconform -strict (k8s 1.33 + CRDs) and Pod Security restricted, offline
	@scripts/k8s-check.sh

lint: $(STAMP) ## ruff check and format check
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(STAMP) ## ruff format
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

typecheck: $(STAMP) ## mypy --strict on the packages
	$(VENV)/bin/mypy

lock: $(STAMP) ## regenerate requirements-lock.txt from the virtualenv
	( echo '# Exact versions CI and the demo install (pip install -c requirements-lock.txt -e .[dev,embedded]). Regenerate with `make lock`.'; \
	  $(VENV)/bin/pip freeze --exclude-editable | grep -v '^zettaledger' ) > requirements-lock.txt

clean: ## stop Kafka and remove var/ (all local data)
	-scripts/kafka.sh stop
	rm -rf var
