# The two commands of the README: `make run` (the main job, offline) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The main job talks to the local scripted Messages API unless asked otherwise (BACKEND=anthropic).
BACKEND ?= offline
MODEL ?= $(if $(filter offline,$(BACKEND)),scripted:mix,claude-haiku-4-5)
RUN_DIR ?= $(if $(filter offline,$(BACKEND)),runs/offline-scripted,runs/$(BACKEND)-$(MODEL))
RUNS ?= 20
# Offline, the notebooks run with their committed parameters (no injected cell) and without any key.
ifeq ($(BACKEND),offline)
NOTEBOOK_ENV := env -u ANTHROPIC_API_KEY
NOTEBOOK_PARAMS :=
else
NOTEBOOK_ENV :=
NOTEBOOK_PARAMS := -p BACKEND='"$(BACKEND)"' -p MODEL='"$(MODEL)"' -p RUNS=$(RUNS) -p RUN_DIR='"../$(RUN_DIR)"'
endif

.PHONY: setup run test lint

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,inspect]'
	touch $(STAMP)

setup: $(STAMP)

# Demo, a calibration run (resumed if it exists), then every notebook headlessly, refreshing figures/.
run: setup
	$(BIN)/python -m task_lib demo
	$(BIN)/python -m task_lib calibrate --backend $(BACKEND) --model $(MODEL) --runs $(RUNS) \
		--out $(RUN_DIR) --resume
	$(NOTEBOOK_ENV) $(BIN)/python -m task_lib notebooks $(NOTEBOOK_PARAMS)

lint: setup
	$(BIN)/ruff check task_lib tests benchmarks

test: lint
	$(BIN)/python -m pytest
