# Fresh machine: `make demo` or `make test` set everything up themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, so that stable-baselines3 (in the dev extra) finds it and pulls no other build
setup: $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"

demo: setup
	$(BIN)/python -m training.demo --seeds 32
	$(BIN)/python -m training.evaluate --scenario feb2024 --episodes 64 --seed 0 --out runs/demo

evaluate: setup
	$(BIN)/python -m training.evaluate --scenario feb2024 --episodes 64 --seed 0 --out runs/eval

train: setup
	$(BIN)/python -m training.train --algo ppo --scenario feb2024 --timesteps 300000 --num-envs 8 --seed 0 --out runs/ppo

train-marl: setup
	$(BIN)/python -m training.train_marl --algo ppo --scenario almgren_chriss --n-agents 2 --reward selfish \
		--timesteps 300000 --out runs/marl --env-kwargs steps=10 gamma=4e-6 sigma=0 risk_aversion=0

stampede: setup
	$(BIN)/python -m training.stampede --populations heuristic,hold,dump,rotate_large --episodes 64 --out runs/stampede

calibrate: setup
	$(BIN)/python -m training.calibrate --scenario feb2024 --seeds 64

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/core.py

bench-env: setup
	$(BIN)/python bench/env.py

.PHONY: setup demo evaluate train train-marl stampede calibrate test bench bench-env
