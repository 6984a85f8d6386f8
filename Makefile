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

.PHONY: setup test unit mutation offline-assets verify-assets exercises release submission expected grade merge clean help

help:
	@echo "make setup           create $(VENV) from requirements-lock.txt (exact versions; torch==2.13.0 CPU wheel)"
	@echo "make lock            re-resolve requirements-dev.txt in a fresh venv and rewrite requirements-lock.txt"
	@echo "make lab             JupyterLab on notebooks/ with the offline backend (LAB_ARGS=--no-browser on a server)"
	@echo "make run             execute every notebook headless -> build/run/ (.ipynb + .html) and print a summary"
	@echo "make test            unit tests + nbval of every notebook on the offline backend (prints coverage of helpers/)"
	@echo "make mutation [ONLY=helpers/metrics.py] [J=1]   mutmut over the fast tests -> build/mutation/report.md (one module: minutes; all: over an hour on 2 cores)"
	@echo "make offline-assets  rebuild data/offline/ (tokenizer, LM, cross-encoder, SAE; deterministic)"
	@echo "make verify-assets   rebuild into build/offline-check and compare with the committed manifest"
	@echo "make bench           benchmarks -> build/bench.json and BENCHMARKS.md (under 10 minutes on 2 cores)"
	@echo "make fullsize        random-init Gemma-2-2b + full-size SAE through the helpers (about 11 GB RAM on CPU)"
	@echo "make exercises       write the student notebooks notebooks/exercises/ from the instructor notebooks"
	@echo "make release OUT=DIR write the student repository (no solutions, keys, hidden tests) into DIR"
	@echo "make submission STUDENT_ID=ID NOTEBOOKS=DIR OUT=DIR   build ID_hw3.zip (what the hand-in cell does)"
	@echo "make expected        run the instructor solutions on the hidden tests in the sandbox (checks the course)"
	@echo "make grade ZIPS='submissions/*.zip' OUT=grades [J=2] [SHARD=I/N]   grade in the bubblewrap sandbox"
	@echo "make merge SHARDS='grades-1 grades-2' OUT=grades   one grades.csv from shard folders"

setup: $(STAMP)

# torch is pinned in the same pip call as the requirements, so nothing can pull a
# CUDA build of torch; requirements-lock.txt (written by `make lock`) pins every other package,
# transitive ones included, and the check fails if the venv differs from it. A second
# `make setup` is a no-op until the lock or a requirements file changes.
LOCK := requirements-lock.txt
$(STAMP): $(LOCK) requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0 -r requirements-dev.txt -c $(LOCK)
	$(PY) -m helpers.offline.lock check --lock $(LOCK)
	touch $(STAMP)

.PHONY: lock lab run

# A fresh temporary venv resolves requirements-dev.txt (+ torch==2.13.0) and `pip freeze` becomes the lock.
lock:
	$(PYTHON) -m helpers.offline.lock write --out $(LOCK)

LAB_ARGS ?=
# Jupyter refuses to run as root unless told (containers, CI machines): allow it only then.
LAB_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
lab: $(STAMP)
	@echo "JupyterLab on notebooks/ with LAB_BACKEND=offline: open the http://127.0.0.1:...?token=... URL printed below (Ctrl-C twice stops it)."
	LAB_BACKEND=offline $(PY) -m jupyterlab --ServerApp.root_dir=notebooks $(LAB_ROOT) $(LAB_ARGS)

run: $(STAMP)
	LAB_BACKEND=offline $(PY) -m helpers.offline.run_all --out build/run $(NOTEBOOKS)

# Coverage of helpers/ is printed, not enforced (the sandboxed harness and the notebook kernels run in other
# processes and are not measured).
test: $(STAMP)
	LAB_BACKEND=offline $(PY) -m pytest -q --cov=helpers --cov-report=term --nbval-lax --nbval-current-env tests $(NOTEBOOKS)

unit: $(STAMP)
	LAB_BACKEND=offline $(PY) -m pytest -q tests

# Mutation testing (helpers.offline.mutation): each surviving mutant is a change of the code that no test notices.
mutation: $(STAMP)
	$(PY) -m helpers.offline.mutation --out build/mutation $(foreach m,$(ONLY),--only $(m)) $(if $(J),-j $(J))

offline-assets: $(STAMP)
	$(PY) -m helpers.offline.build --out data/offline

verify-assets: $(STAMP)
	rm -rf build/offline-check
	$(PY) -m helpers.offline.build --out build/offline-check
	$(PY) -m helpers.assets compare data/offline build/offline-check

exercises: $(STAMP)
	$(PY) -m helpers.coursework.authoring

# The visible checks' expected values, pinned from the instructor solutions (data/checks/NN.json; LAB_BACKEND=gemma adds the real model's).
check-data: $(STAMP)
	LAB_BACKEND="$${LAB_BACKEND:-offline}" OMP_NUM_THREADS=1 $(PY) -m helpers.coursework.pin_checks

release: $(STAMP)
	@test -n "$(OUT)" || { echo "usage: make release OUT=DIR (a new folder)"; exit 2; }
	$(PY) -m helpers.coursework.release --out "$(OUT)"

submission: $(STAMP)
	@test -n "$(STUDENT_ID)" -a -n "$(NOTEBOOKS)" || { echo "usage: make submission STUDENT_ID=ID NOTEBOOKS=DIR [OUT=DIR]"; exit 2; }
	$(PY) -m helpers.handin --student-id "$(STUDENT_ID)" --notebooks "$(NOTEBOOKS)" --out "$(or $(OUT),.)"

ZIPS  ?= submissions/*.zip
OUT   ?=
J     ?= 1
SHARD ?= 1/1

expected: $(STAMP)
	$(PY) -m helpers.coursework.grading expected --out "$(or $(OUT),grades)"

# Grading executes student code: only inside bubblewrap (`apt-get install bubblewrap`).
grade: $(STAMP)
	$(PY) -m helpers.coursework.grading grade $(ZIPS) --out "$(or $(OUT),grades)" -j $(J) --shard $(SHARD)

merge: $(STAMP)
	$(PY) -m helpers.coursework.grading merge $(SHARDS) --out "$(or $(OUT),grades)"

bench: $(STAMP)
	LAB_BACKEND=offline $(PY) -m helpers.offline.bench

fullsize: $(STAMP)
	$(PY) -m helpers.offline.fullsize

clean:
	rm -rf build .pytest_cache
