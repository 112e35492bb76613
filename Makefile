# The two commands of the README: `make demo` (the main job) and `make test` (the whole suite).
SHELL := /bin/bash
VENV := .venv/bin
export ECOM_DATA_DIR ?= $(CURDIR)/data/input
export ECOM_LAKE_DIR ?= $(CURDIR)/data/lake
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
DEMO_ROWS ?= 1000000
DEMO_REPLAY_HOURS ?= 24

.PHONY: setup setup-dev demo live test ui api-docs bench clean

setup:
	@scripts/setup_env.sh
	@mkdir -p "$(DAGSTER_HOME)"; [ -f "$(DAGSTER_HOME)/dagster.yaml" ] || cp dagster.yaml "$(DAGSTER_HOME)/"

setup-dev:
	@scripts/setup_env.sh dev
	@mkdir -p "$(DAGSTER_HOME)"; [ -f "$(DAGSTER_HOME)/dagster.yaml" ] || cp dagster.yaml "$(DAGSTER_HOME)/"

demo: setup
	@if [ -f "$(ECOM_DATA_DIR)/2019-Oct.csv" ]; then echo "using the CSVs in $(ECOM_DATA_DIR)"; \
	 else $(VENV)/ecom generate --out "$(ECOM_DATA_DIR)" --rows $(DEMO_ROWS); fi
	$(VENV)/ecom materialize
	$(VENV)/ecom replay --reset --from 2019-11-01-00:00 --hours $(DEMO_REPLAY_HOURS) --interval 0
	@echo "Open the Dagster UI with: make ui   (then http://127.0.0.1:3000); live replay: make live"

# The suite without the whole-stack fault scenarios (minutes each; `make test-faults`), to stay under 20 minutes.
test: setup-dev
	$(VENV)/python -m pytest -m "not scenario"

# Every fault and bad-input test, the whole-stack scenarios included (docs/reliability.md).
test-faults: setup-dev
	$(VENV)/python -m pytest -m faults

api-docs: setup-dev
	$(VENV)/python scripts/build_api_docs.py --out build/api
	@echo "Open build/api/index.html"

live: setup
	@scripts/live_replay.sh

ui: setup
	$(VENV)/ecom ui

bench: setup-dev
	@scripts/setup_env.sh dev,bench
	$(VENV)/python bench/ingest_vs_duckdb.py
	$(VENV)/python bench/batch_graph_scale.py
	$(VENV)/python bench/batch_als_lists.py
	$(VENV)/python bench/als_vs_implicit.py
	$(VENV)/python bench/replay_cadence.py
	$(VENV)/python bench/live_blend_topn.py
	$(VENV)/python bench/incremental_replay.py
	$(VENV)/python bench/sorted_lookup_vs_numpy.py
	$(VENV)/python bench/als_native_blas.py

clean:
	rm -rf data/lake .dagster_home .run spark-warehouse
