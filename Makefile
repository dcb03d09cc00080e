# Two commands do everything on a fresh machine (Python >= 3.11 and make required):
#   make run    create .venv, install, run the default experiment (snakemake --cores 8)
#   make test   create .venv, install, run the test suite
VENV ?= .venv
PYTHON ?= python3
CORES ?= 8
SNAKEMAKE_ARGS ?=
BIN := $(CURDIR)/$(VENV)/bin

.PHONY: run test clean-results

$(VENV)/.installed: pyproject.toml envs/requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c envs/requirements.lock -e ".[test]"
	touch $@

run: $(VENV)/.installed
	PATH="$(BIN):$$PATH" snakemake --cores $(CORES) $(SNAKEMAKE_ARGS)

test: $(VENV)/.installed
	PATH="$(BIN):$$PATH" pytest

clean-results:
	rm -rf results .snakemake
