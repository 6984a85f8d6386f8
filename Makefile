# Understanding Transformers with Gemma-2-2b-it — developer commands.
# `make setup` then `make test` is all a fresh clone needs (this is what CI runs).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))

# The test and build targets never touch the model hub.
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup test unit offline-assets verify-assets clean help

help:
	@echo "make setup           create $(VENV): torch==2.13.0 (CPU wheel) then requirements-dev.txt"
	@echo "make test            unit tests + nbval of every notebook on the offline backend"
	@echo "make offline-assets  rebuild data/offline/ (tokenizer, LM, cross-encoder, SAE; deterministic)"
	@echo "make verify-assets   rebuild into build/offline-check and compare with the committed manifest"

setup: $(STAMP)

# torch is pinned in the same pip call as the requirements, so nothing can pull a
# CUDA build of torch. A second `make setup` is a no-op until a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0 -r requirements-dev.txt
	touch $(STAMP)

test: $(STAMP)
	LAB_BACKEND=offline $(PY) -m pytest -q --nbval-lax --nbval-current-env tests $(NOTEBOOKS)

unit: $(STAMP)
	LAB_BACKEND=offline $(PY) -m pytest -q tests

offline-assets: $(STAMP)
	$(PY) -m helpers.offline.build --out data/offline

verify-assets: $(STAMP)
	rm -rf build/offline-check
	$(PY) -m helpers.offline.build --out build/offline-check
	$(PY) -m helpers.assets compare data/offline build/offline-check

clean:
	rm -rf build .pytest_cache
