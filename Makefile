# Every target sets itself up from a fresh clone. `make help` lists them.
PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) python3.13)
TRAIN_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.11*/bin/python3.11) python3.11)
VENV := .venv
TRAIN_VENV := training/.venv
CONVERT_VENV := conversion/.venv
# uv makes and fills the environments several times faster than pip: the uv on the PATH, else one that make
# installs with pip into build/uv first. UV= forces pip, which does the same work more slowly (scripts/environment.py
# makes each environment). A PYTHONDONTWRITEBYTECODE from outside would have every process compile TensorFlow or
# torch again (15 s each), since no install compiles bytecode, so make's commands run without it.
unexport PYTHONDONTWRITEBYTECODE
BUILT_UV := $(abspath build/uv/bin/uv)
UV ?= $(or $(shell command -v uv),$(BUILT_UV))
UV_FIRST := $(filter $(BUILT_UV),$(UV))
# Where the training environment's torch comes from: PyTorch's own index of CPU builds (scripts/environment.py).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# scripts/environment.py reads these; exported once defined, since exporting an undefined one defines it empty.
export UV PYTHON TRAIN_PYTHON TORCH_INDEX
ENVIRONMENT = python3 -m scripts.environment $(patsubst %/,%,$(dir $@))
# The training data's folder. This project's own machines keep a copy beside the checkout; elsewhere it is
# empty, and `make model` downloads the dataset into a cache folder (training/dataset.py).
export CLOTHING_DATA ?= $(abspath $(wildcard ../shared/datasets/clothing-dataset-small))

GCF_VENV := build/gcf-venv
CHECKOV_VENV := build/checkov-venv
GCF_PORT ?= 8081

NODE_TOOLS := node_modules/.ready
ARM64 := build/arm64/.ready
ENVIRONMENTS := $(VENV)/.ready $(GCF_VENV)/.ready $(TRAIN_VENV)/.ready $(CONVERT_VENV)/.ready $(CHECKOV_VENV)/.ready \
	$(NODE_TOOLS) $(ARM64)

.PHONY: help serve classify test test-unit test-serving test-limits test-arm64 test-training test-onnx test-keras test-lint environments lint model quantize convert inspect bench deploy destroy cost \
	package-gcf package-azure serve-gcf classify-bucket prune watch

help:
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

serve: $(VENV)/.ready ## serve the function under the real Lambda emulator on PORT (default 8080), and its API and page on API_PORT (default 3000); MEMORY=<MB> applies Lambda's limits
	$(VENV)/bin/python scripts/serve.py

classify: $(VENV)/.ready ## classify a catalog: INPUT=a folder, a file of URLs or a .csv/.jsonl manifest; OUT=results.jsonl, resumable
	@test -n "$(INPUT)" || { echo 'usage: make classify INPUT=photos/|urls.txt|manifest.csv [OUT=results.jsonl] [ARGS="--workers 2"]'; exit 2; }
	@$(VENV)/bin/python -m scripts.classify "$(INPUT)" --out "$(or $(OUT),results.jsonl)" $(ARGS)

package-gcf: $(VENV)/.ready ## build/gcf/: what Google Cloud Functions deploys (the image's code and model, main.py)
	$(VENV)/bin/python -m scripts.package gcf

package-azure: $(VENV)/.ready ## build/azure/: what Azure Functions deploys (the image's code and model, function_app.py, host.json)
	$(VENV)/bin/python -m scripts.package azure

serve-gcf: package-gcf $(GCF_VENV)/.ready ## serve build/gcf/ with functions-framework on GCF_PORT (default 8081), installed from its own requirements.txt
	@# functions-framework's own app under gunicorn, as its command runs it, but stopped in 2 s rather than 30
	cd build/gcf && ../gcf-venv/bin/gunicorn --bind 127.0.0.1:$(GCF_PORT) --workers 1 --threads 8 \
		--graceful-timeout 2 --log-level error 'functions_framework:create_app(target="predict", source="main.py")'

# Two jobs at a time, one on each core: each suite starts as soon as its environments are in, so that the
# installs (mostly waiting on the network and the disk) overlap the first suites. The suites, longest first: the
# serving one, the Keras tests (TensorFlow), the hostile pictures (a decode's CPU time over its budget is measured
# again, the least counting, since a busy neighbour only adds to it), the training and ONNX tests (torch, which
# cannot share a process with TensorFlow), lint and the arm64 check. Each says how long it took;
# --keep-going tells every failing one.
# torch's OpenMP threads spin while they wait for work, on the core the other suite runs on: passive ones sleep.
test: export OMP_WAIT_POLICY = PASSIVE
test: ## run every test (serving on the three platforms, end to end, deployment, training smoke run, conversion)
	@scripts/timed "make test" $(MAKE) -s -j2 --keep-going --output-sync=target --no-print-directory test-serving \
		test-keras test-limits test-training test-onnx test-lint test-arm64

environments: $(ENVIRONMENTS) ## install every environment the tests use

test-unit: $(VENV)/.ready ## the unit tests alone, the quick loop: no process, server, socket or browser (under a minute)
	@scripts/timed "unit tests" $(VENV)/bin/python -m pytest -m "not process and not browser and not platform and not limits and not arm64"

test-serving: $(VENV)/.ready $(GCF_VENV)/.ready $(NODE_TOOLS)
	@scripts/timed "serving tests" env GCF_VENV=$(GCF_VENV) $(VENV)/bin/python -m pytest -m "not limits and not arm64"

test-limits: $(VENV)/.ready
	@scripts/timed "hostile picture tests" $(VENV)/bin/python -m pytest -m limits

test-arm64: $(VENV)/.ready $(ARM64)
	@scripts/timed "arm64 tests" $(VENV)/bin/python -m pytest -m arm64

test-training: $(TRAIN_VENV)/.ready $(CONVERT_VENV)/.ready $(VENV)/.ready
	@scripts/timed "training tests" $(TRAIN_VENV)/bin/python -m pytest -m training

test-onnx: $(TRAIN_VENV)/.ready $(CONVERT_VENV)/.ready $(VENV)/.ready
	@scripts/timed "ONNX and .pt2 conversion tests" $(TRAIN_VENV)/bin/python -m pytest -m onnx

test-keras: $(CONVERT_VENV)/.ready $(VENV)/.ready
	@scripts/timed "Keras conversion tests" $(CONVERT_VENV)/bin/python -m pytest -m keras

test-lint: $(VENV)/.ready $(CHECKOV_VENV)/.ready
	@scripts/timed "lint" $(MAKE) -s --no-print-directory lint

lint: $(VENV)/.ready $(CHECKOV_VENV)/.ready ## ruff, hadolint, cfn-lint, openapi-spec-validator, and checkov's security checks of the template and the Dockerfile
	scripts/lint

model: $(TRAIN_VENV)/.ready $(CONVERT_VENV)/.ready $(VENV)/.ready ## train, convert and evaluate a model; it replaces clothing_model.tflite only if surely better (about 45 minutes on 2 cores; ARGS=--force replaces it anyway)
	scripts/model $(ARGS)

# A .pt2 network is read and exported to ONNX where torch is, in the training environment, and turned into TF-Lite
# in the conversion one; everything else converts in the conversion environment alone. conversion/formats.py's
# table says which a MODEL needs.
MODEL_VENV = $(if $(filter training,$(shell python3 -m conversion.formats environment "$(MODEL)")),$(TRAIN_VENV),$(CONVERT_VENV))

quantize: $(CONVERT_VENV)/.ready $(VENV)/.ready ## the shipped network at int8, calibrated on training pictures; it replaces clothing_model.tflite only if not worse beyond the margin
	$(CONVERT_VENV)/bin/python -m training.quantize
	$(VENV)/bin/python -m training.evaluate --model training/float/clothing_model.tflite \
		--promote-cheaper build/candidate/clothing_model.int8.tflite $(ARGS)

convert: $(VENV)/.ready ## turn a model (MODEL=file.h5, .keras, a SavedModel folder, .onnx or .pt2) into OUT (default clothing_model.tflite)
	@test -n "$(MODEL)" || { echo 'usage: make convert MODEL=path/to/model.h5|.keras|.onnx|.pt2 [OUT=clothing_model.tflite] [ARGS="--labels a,b --scaling torch --resize nearest"]'; exit 2; }
	@$(MAKE) -s --no-print-directory $(MODEL_VENV)/.ready $(CONVERT_VENV)/.ready
	$(MODEL_VENV)/bin/python -m conversion.convert "$(MODEL)" --out "$(or $(OUT),clothing_model.tflite)" $(ARGS)

inspect: ## what a model takes and gives, before converting it (MODEL=file.h5, .keras, a SavedModel folder, .onnx or .pt2)
	@test -n "$(MODEL)" || { echo 'usage: make inspect MODEL=path/to/model.h5|.keras|.onnx|.pt2'; exit 2; }
	@$(MAKE) -s --no-print-directory $(MODEL_VENV)/.ready
	@$(MODEL_VENV)/bin/python -m conversion.inspect_model "$(MODEL)"

bench: $(VENV)/.ready $(TRAIN_VENV)/.ready $(CONVERT_VENV)/.ready ## compare with the course's two designs; writes docs/benchmark.md
	scripts/bench

cost: $(VENV)/.ready ## the monthly bill for a memory size, duration and request count, and the same month on Google and Azure (ARGS=--help lists the options)
	@$(VENV)/bin/python -m deploy.cost $(ARGS)

deploy: $(VENV)/.ready ## build the image for the function's architecture and deploy it with SAM (guided the first time; ARGS for sam deploy)
	$(VENV)/bin/python -m deploy.preflight
	$(VENV)/bin/python -m deploy.release --resolve-image-repos $(ARGS)

classify-bucket: $(VENV)/.ready ## start the deployed catalog workflow over CatalogBucket's pictures (ARGS="--stack NAME --wait")
	@$(VENV)/bin/python -m deploy.classify_bucket $(ARGS)

watch: $(VENV)/.ready ## the deployed function's last hour from CloudWatch: answers per class, latency percentiles, errors, alarms (ARGS="--hours 24")
	@$(VENV)/bin/python -m deploy.watch $(ARGS)

prune: $(VENV)/.ready ## delete the function's versions no alias points to, and their SnapStart snapshots (ARGS="--dry-run")
	@$(VENV)/bin/python -m deploy.prune $(ARGS)

destroy: $(VENV)/.ready ## delete the deployed stack and its image repository
	@$(VENV)/bin/python -m deploy.preflight destroy
	$(VENV)/bin/sam delete

# Each environment is made by scripts/environment.py, from its row there and the files it depends on here.
$(BUILT_UV):
	python3 -m scripts.environment build/uv

$(VENV)/.ready: requirements.txt requirements-dev.txt | $(UV_FIRST)
	$(ENVIRONMENT)

$(CONVERT_VENV)/.ready: conversion/requirements.txt conversion/requirements-nodeps.txt | $(UV_FIRST)
	$(ENVIRONMENT)

$(GCF_VENV)/.ready: requirements.txt platforms/gcf/requirements.txt | $(UV_FIRST)
	$(ENVIRONMENT)

$(CHECKOV_VENV)/.ready: requirements-checkov.txt | $(UV_FIRST)
	$(ENVIRONMENT)

$(TRAIN_VENV)/.ready: training/requirements.txt | $(UV_FIRST)
	$(ENVIRONMENT)

# asl-validator, for the catalog's Step Functions definition (tests/test_deploy.py), as package-lock.json pins it.
$(NODE_TOOLS): package-lock.json
	@command -v npm >/dev/null || { echo "make: needs Node.js and npm (your system's nodejs and npm packages)"; exit 2; }
	npm ci --no-audit --no-fund --silent && touch $@

# Debian's arm64 CPython and qemu-user, and the aarch64 wheels, for tests/test_arm64.py (scripts/arm64.py).
$(ARM64): requirements.txt $(VENV)/.ready
	$(VENV)/bin/python -m scripts.arm64 prepare
