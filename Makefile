# Two commands on a fresh clone (Python >= 3.10):
#   make train    set up .venv, then the main job: python -m fastgan.train (on the GPU when there
#                 is one); flags through ARGS, e.g. make train ARGS="--device cpu --epochs 5"
#   make test     set up .venv, then every test stage: the CPU tests, the Triton kernels in
#                 interpreter mode, the benchmarks' smoke tests (ends on pytest's summary)
# A second call reuses the environment (set up again only when pyproject.toml changes).
# MNIST: --data-dir, $FASTGAN_DATA, ~/.cache/fastgan/mnist, else downloaded.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fastgan-setup
ARGS ?=

.PHONY: setup train test
setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	@bash scripts/setup.sh "$(PYTHON)" "$(VENV)"
	@touch $@

train: $(STAMP)
	$(PY) -m fastgan.train $(ARGS)

test: $(STAMP)
	@echo "test 1/3: the CPU tests"
	$(PY) -m pytest -q
	@echo "test 2/3: the Triton kernels in interpreter mode"
	TRITON_INTERPRET=1 $(PY) -m pytest -q tests/test_kernels.py \
	    tests/test_interpreter_training.py tests/test_member_random.py tests/test_graphs.py \
	    tests/test_fused_dropout.py tests/test_eager_calls.py
	TRITON_INTERPRET=1 $(PY) -m pytest -q -p no:cacheprovider bench/test_launch_cost.py
	@echo "test 3/3: the benchmarks' smoke tests"
	$(PY) -m pytest -q bench/ --benchmark-disable -p no:cacheprovider
