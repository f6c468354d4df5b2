# stylepipe developer entry points. `make demo` and `make test` work from a clean clone.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck clean gpu-kit

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python >= 3.11); set PYTHON=..."; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python samples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check stylepipe plugins training tests benchmarks samples
	$(BIN)/ruff format --check stylepipe plugins training tests benchmarks samples

typecheck: $(STAMP)
	$(BIN)/mypy stylepipe plugins/stylepipe_basic plugins/stylepipe_style plugins/stylepipe_sr plugins/stylepipe_local plugins/stylepipe_ray training/stylepipe_training

# What a paper-length run on a lent GPU needs, under .gpukit/ (training/gpu_run.sh).
gpu-kit: $(STAMP)
	$(BIN)/python training/gpu_kit.py

clean:
	rm -rf $(VENV) build dist *.egg-info demo-output
