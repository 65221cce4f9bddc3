# vssl-bench: `make run` and `make test` work on a fresh clone; both create .venv when needed.
# ARGS="..." passes extra options to `make run` and `make reproduce-*` (e.g. ARGS="--dry-run").
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
GRID   ?= showcase
JOBS   ?= auto
DATA   ?=
PYTEST_ARGS ?=
ARGS   ?=

.PHONY: install test run lint leaderboard bench clean reproduce-rspnet reproduce-pace reproduce-prp reproduce-ascnet

install: $(STAMP)

# Re-install only when the venv is missing or pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -c "import vssl_bench, torch, av, pytorch_lightning" 
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The showcase: the four methods on R3D-10 and its random init, 3 seeds; JOBS=auto runs one cell per
# core at a time on CPU (one at a time on a GPU).
# GRID=all runs every method x backbone (the pipeline check; README says what it costs).
run: $(STAMP)
	$(BIN)/vssl-bench run --grid $(GRID) --scale quick --jobs $(JOBS) $(ARGS)

leaderboard: $(STAMP)
	$(BIN)/vssl-bench leaderboard

lint: $(STAMP)
	$(BIN)/ruff check vssl_bench tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]' || echo "peers not installed: the loader benchmark skips them"
	$(BIN)/python benchmarks/loader_throughput.py
	$(BIN)/python benchmarks/backbone_cost.py

define reproduce
reproduce-$(1): $(STAMP)
	@test -n "$(DATA)" || { echo "error: set DATA=/path/to/datasets (holding UCF101/, hmdb51/, kinetics400/); e.g. make reproduce-$(1) DATA=/datasets" >&2; exit 2; }
	$(BIN)/vssl-bench run --grid $(1) --scale paper --data-root "$(DATA)" $(ARGS)
endef
$(foreach m,rspnet pace prp ascnet,$(eval $(call reproduce,$(m))))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache results/runs results/work
