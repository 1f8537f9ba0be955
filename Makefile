# The two set-up commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
DATA   ?= ./data
OUT    ?= ./out
BIN    := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

run: $(VENV)/.installed
	$(BIN)/aares run-all --data "$(DATA)" --out "$(OUT)"

test: $(VENV)/.installed
	$(BIN)/ruff check .
	AARES_DATA="$(abspath $(DATA))" $(BIN)/python -m pytest -q

bench: $(VENV)/.installed
	AARES_DATA="$(abspath $(DATA))" $(BIN)/python -m benchmarks --data "$(DATA)"

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
