# Two entry points (see README): `make demo` and `make test`. Each creates .venv when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

.PHONY: demo test bench
demo: $(STAMP)
	$(BIN)/tallyproof demo --out demo-out

test: $(STAMP)
	$(BIN)/ruff check --quiet src tests benchmarks
	$(BIN)/python -m pytest -n 2 -q

# votekit's numba needs an older numpy than the project pins, so it gets its own venv and
# bench_irv runs it in a subprocess on the same ballots.
VOTEKIT := .venv-votekit
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet pyrankvote==2.0.6
	test -x $(VOTEKIT)/bin/python || $(PY) -m venv $(VOTEKIT)
	$(VOTEKIT)/bin/python -m pip install --quiet votekit==3.5.0
	VOTEKIT_PYTHON=$(VOTEKIT)/bin/python $(BIN)/python benchmarks/run.py
