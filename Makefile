# Spark developer entry points. Works on a fresh machine with only python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[cbor2,websocket,dev,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/basic_actor_echo.py --message hello

lint: $(STAMP)
	$(BIN)/ruff check spark tests examples bench
	$(BIN)/black --check spark tests examples bench

typecheck: $(STAMP)
	$(BIN)/mypy spark

unit: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist
