# Two commands set the project up on a fresh machine: `make demo` and `make test`.
# Each creates .venv when it is missing and installs the project into it (once;
# again only when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test paper clean-cache

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[train,dev]"  # train: torch, torchvision, smp (real training); dev: mfpbench (a test)
	@touch $(STAMP)

install: $(STAMP)

# The smoke suite end to end on the real data, into runs/demo (scratch: the committed
# results/smoke came from `python -m bench run bench/suites/smoke.toml`).
demo: install
	rm -rf runs/demo
	$(PY) -m bench run bench/suites/smoke.toml --results runs/demo
	$(PY) -m bench status runs/demo

test: install
	$(PY) -m pytest -q

# Every figure, table and the report, from the committed results (nothing trains).
PAPER_RESULTS := $(wildcard results/nvsbn results/nvsbn-miou results/nvsbn-neighbour results/nvsbn-candidates results/nvsbn-candidates-miou results/nvsbn-neighbour-miou results/nvsbn-drop1 results/nvsbn-drop3 results/nvsbn-restart results/nvsbn-budget results/nvsbn-miou-budget results/smoke results/cpu results/workers)
PAPER_CURVES  := $(wildcard results/curves/*.csv)
paper: install
	$(PY) -m paper $(PAPER_RESULTS) --curves $(PAPER_CURVES) --out paper/build
	$(PY) -m paper.readme   # the README quotes the generated findings

clean-cache:
	rm -rf .cache
