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

# The current pip resolves the dependencies in half the CPU of the one the venv bundles
# (7 s against 15 s), more than its own install costs.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes. `make run` needs only the runtime
# dependencies; the test extra (pytest, ruff, librosa and faiss as references) comes on top.
# Bytecode: pip would compile all ~7,500 files it installs on one core (25 s of CPU, half the
# install); compileall does it on every core and skips the packages' own test suites (a third
# of the source, never imported). Not compiling at all costs more where
# PYTHONDONTWRITEBYTECODE is set: each process of `make run` would compile its imports
# again (~7 s of CPU each).
COMPILE = $(BIN)/python -m compileall -q -j 0 -x '/tests?/' $(VENV)/lib >/dev/null

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-compile -e .
	$(COMPILE)
	touch $@

$(VENV)/.installed: $(VENV)/.installed-run
	$(BIN)/python -m pip install --quiet --no-compile -e ".[test]"
	$(COMPILE)
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
