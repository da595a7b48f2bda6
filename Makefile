# The two commands of the README: `make run` (the main job, offline) and `make test`.
# `make notebooks` refreshes the committed notebooks and figures/ (a maintainer's target, not the main job).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The main job talks to the local scripted Messages API unless asked otherwise (BACKEND=anthropic).
BACKEND ?= offline
TASK ?= variance-dropout
MODEL ?= $(if $(filter offline,$(BACKEND)),scripted:mix,claude-haiku-4-5)
# The notebooks look for a run in runs/<backend>-<task>-<task version> unless told otherwise: a task
# edited since gets a new run instead of a refusal to resume the old one (calibrate's own default,
# named by the one function task_lib.calibration.runs.default_run_dir).
default_run_dir = $(shell $(BIN)/python -c "from task_lib.calibration.runs import default_run_dir; \
	from task_lib.registry import get_task; print(default_run_dir('$(1)', get_task('$(TASK)')))")
RUN_DIR ?= $(call default_run_dir,$(BACKEND))
RUNS ?= 20
# Everything `make run` writes goes under runs/ (ignored by git): executed notebooks and their figures.
RUN_NOTEBOOKS := runs/notebooks
RUN_FIGURES := $(abspath runs/figures)
# Offline, the notebooks run with their committed parameters (no key); online, with the run's.
ifeq ($(BACKEND),offline)
NOTEBOOK_ENV := env -u ANTHROPIC_API_KEY
NOTEBOOK_PARAMS :=
else
NOTEBOOK_ENV :=
NOTEBOOK_PARAMS := -p BACKEND='"$(BACKEND)"' -p MODEL='"$(MODEL)"' -p RUNS=$(RUNS)
endif

.PHONY: setup run test lint notebooks

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,torch,inspect,verifiers]'
	# An editable install compiles nothing; compiled as a regular install would be, a grade does not
	# compile task_lib at every start (PYTHONDONTWRITEBYTECODE would keep Python from caching it).
	# The tasks' starting files and references are templates written into workspaces, never imported.
	$(BIN)/python -m compileall -q -x '/tasks/[a-z_]+/(files|reference)/' task_lib
	touch $(STAMP)

setup: $(STAMP)

# Demo, a calibration run (resumed if it exists), every notebook headlessly into runs/, then the
# run's report (its path is the last line printed).
run: setup
	$(BIN)/python -m task_lib demo --task $(TASK)
	$(BIN)/python -m task_lib calibrate --task $(TASK) --backend $(BACKEND) --model $(MODEL) \
		--runs $(RUNS) --out $(RUN_DIR) --resume
	$(NOTEBOOK_ENV) $(BIN)/python -m task_lib notebooks --output-dir $(RUN_NOTEBOOKS) \
		-p FIGURES_DIR='"$(RUN_FIGURES)"' $(NOTEBOOK_PARAMS)
	@echo "main job done: run in $(RUN_DIR), executed notebooks in $(RUN_NOTEBOOKS), figures in $(RUN_FIGURES)"
	$(BIN)/python -m task_lib report $(RUN_DIR) --task $(TASK)

# Re-execute the committed notebooks in place (offline, fixed seeds), refreshing figures/.
notebooks: setup
	$(BIN)/python -m task_lib calibrate --task $(TASK) --backend offline --model scripted:mix \
		--runs $(RUNS) --out $(call default_run_dir,offline) --resume
	env -u ANTHROPIC_API_KEY $(BIN)/python -m task_lib notebooks

lint: setup
	$(BIN)/ruff check task_lib tests benchmarks

test: lint
	$(BIN)/python -m pytest
