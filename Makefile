# Fresh machine: `make demo` or `make test` set everything up themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"

demo: setup
	$(BIN)/python -m training.demo

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/core.py

.PHONY: setup demo test bench
