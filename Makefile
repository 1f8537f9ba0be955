# The two set-up commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
DATA   ?= ./data
OUT    ?= ./out
BIN    := $(VENV)/bin

DB     ?= $(OUT)/fingerprint/songs.fp.db
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint bench serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes. `make run` needs only the runtime
# dependencies; the test extra (pytest, ruff, librosa and faiss as references) comes on top.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed: $(VENV)/.installed-run
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

run: $(VENV)/.installed-run
	$(BIN)/aares run-all --data "$(DATA)" --out "$(OUT)"

test: $(VENV)/.installed
	$(BIN)/ruff check .
	AARES_DATA="$(abspath $(DATA))" $(BIN)/python -m pytest -q

# The web service and page (identify from the microphone, genre set, playlist): `make serve
# DB=catalog.fp.db DATA=data`. The catalog comes from `aares fp index` (or `make run`).
serve: $(VENV)/.installed
	$(BIN)/aares serve --db "$(DB)" --data "$(DATA)" --host "$(HOST)" --port "$(PORT)" \
		--cache "$(OUT)/recommend/cache"

bench: $(VENV)/.installed
	AARES_DATA="$(abspath $(DATA))" $(BIN)/python -m benchmarks --data "$(DATA)"

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
