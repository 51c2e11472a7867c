# lossbench: `make bench` and `make test` each work as the first command on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   := data
# Where a user's runs go: git-ignored, so `make bench` never touches the committed reports/.
OUT    ?= runs
STAMP  := $(VENV)/.installed
# Users' loss files or modules, e.g. `make bench IMPORT=my_losses.py LOSSES=ce,cauchy`.
IMPORT ?=
LOSSES ?=
EXTRA  := $(foreach source,$(IMPORT),--import $(source)) $(if $(LOSSES),--losses $(LOSSES))
# Dask workers for make bench and make study: one per core where there is more than one
# (WORKERS= runs everything in one process).
WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ "$$n" -gt 1 ] && echo $$n)
PARALLEL := $(if $(WORKERS),--workers $(WORKERS))

.PHONY: setup data test bench bench-gpu study study-full peers microbench plots report lint clean

## setup: make .venv, install lossbench with its dev extra, provision Fashion-MNIST into data/
setup: $(STAMP) data

# Re-installs only when pyproject.toml changes; torch and torchvision come from the wheel cache.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# Fast when the files are there (headers and sizes are checked, nothing is decompressed).
data: $(STAMP)
	$(BIN)/python -m bench.data --data $(DATA)

## test: the whole test suite; the micro-benchmarks run once each, untimed
test: setup
	$(BIN)/python -m pytest

# The protocol both share: 30 epochs of cosine-decayed SGD at batch 256, rates tuned per loss.
PROTOCOL := --data $(DATA) --epochs 30 --batch-size 256 --schedule cosine

## bench: the default suite (24 losses) at reduced size (3 seeds, one noise level), CPU and CUDA
## if present, tuning included (two-stage: every rate 10 epochs, the 2 best 30): 4m30s on 2 cores
## (the losses of each seed train as one stack); a re-run reuses every finished run -> runs/
bench: setup
	$(BIN)/python -m bench $(PROTOCOL) --seeds 3 --noise none,sym:0.4 --tune-screen-epochs 10 \
		--batch-sizes 64,256,1024,4096 --reference-iters 50 --textbook-epochs 3 --out $(OUT) \
		$(PARALLEL) $(EXTRA)

## study: every dataset and both models, 5 seeds on clean labels, the noise sweep where it tells
## something (the whole sweep on Fashion-MNIST, one level elsewhere), L-BFGS optima and
## scikit-learn peers for the linear model, one Dask worker per core -> runs/study/
STUDY := $(PROTOCOL) --seeds 5 --noise-seeds 2 --tune-screen-epochs 10 --reference-iters 300 \
	--textbook-epochs 5 --out $(OUT)/study --no-report $(PARALLEL) $(EXTRA)
study: setup peers
	$(BIN)/python -m bench $(STUDY) --peers --batch-sizes 64,256,1024,4096 \
		--noise none,sym:0.2,sym:0.4,sym:0.6,sym:0.8,pairs:0.4
	$(BIN)/python -m bench $(STUDY) --model mlp --epochs 20 --noise none,sym:0.4 --noise-seeds 1 \
		--tune-screen-epochs 3 --tune-epochs 10
	$(BIN)/python -m bench $(STUDY) --dataset fashion_mnist_lt --noise none
	$(BIN)/python -m bench $(STUDY) --dataset digits --noise none,sym:0.4 --peers
	$(BIN)/python -m bench $(STUDY) --dataset breast_cancer --noise none,sym:0.2 --peers
	$(BIN)/python -m bench.reporting $(OUT)/study

## study-full: the full cross-product (every loss × workload × noise level × 5 seeds) that the
## study's report prices: hours here, meant for a cluster, e.g. from examples/slurm_cluster.py:
## make study-full SCHEDULER=tcp://HOST:8786 (without SCHEDULER: local workers) -> runs/full/
SCHEDULER ?=
FULL_NOISE := none,sym:0.2,sym:0.4,sym:0.6,sym:0.8
FULL := $(PROTOCOL) --seeds 5 --noise-seeds 5 --tune-screen-epochs 10 --reference-iters 500 \
	--out $(OUT)/full --no-report $(if $(SCHEDULER),--scheduler $(SCHEDULER),$(PARALLEL)) $(EXTRA)
study-full: setup peers
	$(BIN)/python -m bench $(FULL) --peers --noise $(FULL_NOISE),pairs:0.2,pairs:0.4
	$(BIN)/python -m bench $(FULL) --model mlp --epochs 20 --noise $(FULL_NOISE),pairs:0.2,pairs:0.4 \
		--tune-screen-epochs 3 --tune-epochs 10
	$(BIN)/python -m bench $(FULL) --dataset fashion_mnist_lt --noise $(FULL_NOISE),pairs:0.2,pairs:0.4
	$(BIN)/python -m bench $(FULL) --dataset digits --noise $(FULL_NOISE) --peers
	$(BIN)/python -m bench $(FULL) --dataset breast_cancer --noise $(FULL_NOISE) --peers
	$(BIN)/python -m bench.reporting $(OUT)/full

## bench-gpu: the speed run on a CUDA machine, CPU and GPU side by side (every loss, 1 seed, the
## built-in rates, the batch-size sweep with CUDA graphs and eager steps), softmax regression and
## the MLP (20 epochs, as in the study): about 6 minutes on one H100 -> runs/gpu/
bench-gpu: setup
	$(BIN)/python -m bench $(GPU_BENCH) --no-report
	$(BIN)/python -m bench $(GPU_BENCH) --model mlp --epochs 20 --no-report
	$(BIN)/python -m bench.reporting $(OUT)/gpu

GPU_BENCH := $(PROTOCOL) --devices cpu,cuda --seeds 1 --noise none --no-tune \
	--batch-sizes 64,256,1024,4096 --reference-iters 0 --textbook-epochs 1 --out $(OUT)/gpu

## peers: install the optional scikit-learn peers into .venv
peers: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,peers]'

## microbench: time each loss's value + gradient against the torch built-ins (pytest-benchmark)
microbench: setup
	mkdir -p $(OUT)
	$(BIN)/python -m pytest tests/benchmarks --benchmark-enable --benchmark-only \
		--benchmark-json=$(OUT)/microbench.json

## plots: the loss / likelihood / gradient grid of every loss
plots: setup
	$(BIN)/python -m losses.plots --out $(OUT)/gradients.png

## report: remake OUT/README.md and its figures from OUT/results.csv, without training
## (make report OUT=reports remakes the committed sample)
report: setup
	$(BIN)/python -m bench.reporting $(OUT)

lint: setup
	$(BIN)/ruff check losses bench tests

## clean: remove the virtual environment, the data and caches (reports/ are kept)
clean:
	rm -rf $(VENV) $(DATA) .pytest_cache .ruff_cache .hypothesis .benchmarks *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
