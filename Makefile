# Understanding Transformers with Gemma-2-2b-it — developer commands.
# `make test` is all a fresh clone needs (it runs `make setup` first); CI runs exactly that (.ci/run).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))

# The test and build targets never touch the model hub.
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup sysdeps sysdeps-setup test coverage unit check-data mutation offline-assets verify-assets course-check exercises release submission expected grade merge gradescope clean help

help:
	@echo "make setup           system packages (bubblewrap, wordnet-base; apt-get as root, else the command to run) + $(VENV) from requirements-lock.txt"
	@echo "                     (exact versions; torch==2.13.0 as pip finds it: TORCH_INDEX_URL=... for PyTorch's CPU-only index)"
	@echo "make lock            re-resolve requirements-dev.txt in a fresh venv and rewrite requirements-lock.txt"
	@echo "make lab             JupyterLab on notebooks/ with the offline backend (LAB_ARGS=--no-browser on a server)"
	@echo "make run             execute every notebook headless -> build/run/ (.ipynb + .html) and print a summary"
	@echo "make test            setup, then unit tests + nbval of every notebook on the offline backend, on PYTEST_WORKERS=2 workers"
	@echo "make coverage        make test with the coverage of helpers/ printed (slower; not enforced)"
	@echo "make mutation [ONLY=helpers/metrics.py] [J=1]   mutmut over the fast tests -> build/mutation/report.md (times: README, 'How long things take')"
	@echo "make offline-assets  rebuild data/offline/ (tokenizer, LM, cross-encoder, SAE; deterministic)"
	@echo "make verify-assets   rebuild into build/offline-check and compare with the committed manifest"
	@echo "make bench           benchmarks -> build/bench.json and BENCHMARKS.md"
	@echo "make fullsize        random-init Gemma-2-2b + full-size SAE through the helpers (about 11 GB RAM on CPU)"
	@echo "make exercises       write the student notebooks notebooks/exercises/ from the instructor notebooks"
	@echo "make check-data      pin the visible checks' expected values (data/checks/) from the instructor solutions"
	@echo "make course-check [LAB_BACKEND=gemma] [NB='07 08']  run the instructor notebooks; one line per question premise (holds/FAILS)"
	@echo "make release OUT=DIR write the student repository (no solutions, keys, hidden tests) into DIR"
	@echo "make submission STUDENT_ID=ID NOTEBOOKS=DIR OUT=DIR   build ID_hw3.zip (what the hand-in cell does)"
	@echo "make expected        run the instructor solutions on the hidden tests in the sandbox (checks the course)"
	@echo "make grade ZIPS='submissions/*.zip' OUT=grades [J=2] [SHARD=I/N]   grade in the bubblewrap sandbox"
	@echo "make merge SHARDS='grades-1 grades-2' OUT=grades   one grades.csv from shard folders"
	@echo "     (grade/merge: FORMAT=canvas also writes canvas.csv [CANVAS_ASSIGNMENT='HW3 (id)' CANVAS_ROSTER=export.csv]; SHOW_KEYS=1 after the deadline)"
	@echo "make gradescope OUT=DIR [TORCH_INDEX_URL=...]   DIR/autograder.zip for a Gradescope programming assignment"

setup: sysdeps-setup $(STAMP)

# System packages the tests need (helpers/offline/sysdeps.py, standard library only, runs before the venv
# exists): installed with apt-get as root, otherwise it stops in seconds with the one command to run.
sysdeps:
	@$(PYTHON) -m helpers.offline.sysdeps
sysdeps-setup:
	@$(PYTHON) -m helpers.offline.sysdeps --setup

# torch is pinned in the same pip call as the requirements, so no other package can pull another torch.
# Which build pip takes for torch==2.13.0 is the index's choice: on Linux the default index serves the CUDA
# build (several GB); TORCH_INDEX_URL=<PyTorch's CPU-only wheel index, from its install selector> makes pip
# take 2.13.0+cpu instead (a local version label that `==2.13.0` matches and pip prefers); requirements-lock.txt (written by `make lock`) pins every other package,
# transitive ones included, and the check fails if the venv differs from it. A second
# `make setup` is a no-op until the lock or a requirements file changes.
LOCK := requirements-lock.txt
$(STAMP): $(LOCK) requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile --disable-pip-version-check $(if $(TORCH_INDEX_URL),--extra-index-url "$(TORCH_INDEX_URL)") torch==2.13.0 -r requirements-dev.txt -c $(LOCK)
	@# pip would byte-compile the 17,000 files one by one; compileall spreads them over the cores (the sandboxed grader
	@# runs Python with -B on a read-only venv, so the .pyc files must exist). Like pip, it skips files it cannot
	@# compile (torch ships one in Python 3.12 syntax): a missing .pyc only costs that module's import time. The
	@# packages' own test suites (3,500 files under test/ and tests/ folders, which nothing here imports) are skipped.
	$(PY) -m compileall -qq -j 0 -x '/tests?/' $(VENV)/lib || true
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

# PYTEST_WORKERS pytest-xdist workers (2 = the CI machine's cores; tests/conftest.py keeps a file's tests and a
# notebook's cells on one worker); PYTEST_WORKERS=0 runs everything in this process.
PYTEST_WORKERS ?= 2
test: sysdeps $(STAMP)
	LAB_BACKEND=offline $(PY) -m pytest -q -n $(PYTEST_WORKERS) --nbval-lax --nbval-current-env tests $(NOTEBOOKS)

# The same run with the coverage of helpers/ printed, not enforced (about a sixth slower: coverage traces every
# line; the sandboxed harness and the notebook kernels run in other processes and are not measured).
coverage: sysdeps $(STAMP)
	LAB_BACKEND=offline $(PY) -m pytest -q -n $(PYTEST_WORKERS) --cov=helpers --cov-report=term --nbval-lax --nbval-current-env tests $(NOTEBOOKS)

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

# Premises of the observation questions on the model students run (helpers/coursework/course_check.py): a TA runs
# it once on a GPU with LAB_BACKEND=gemma (the default here; the hub must be reachable), CI offline for one notebook.
NB ?=
course-check: $(STAMP)
	LAB_BACKEND="$${LAB_BACKEND:-gemma}" HF_HUB_OFFLINE="$(if $(filter offline,$(LAB_BACKEND)),1,0)" $(PY) -m helpers.coursework.course_check $(NB)

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
# FORMAT=canvas: also Canvas's gradebook import CSV; SHOW_KEYS=1: the feedback files show the question keys.
FORMAT ?= csv
CANVAS_ARGS = --format $(FORMAT) $(if $(CANVAS_ASSIGNMENT),--canvas-assignment "$(CANVAS_ASSIGNMENT)") $(if $(CANVAS_ROSTER),--canvas-roster "$(CANVAS_ROSTER)")
grade: $(STAMP)
	$(PY) -m helpers.coursework.grading grade $(ZIPS) --out "$(or $(OUT),grades)" -j $(J) --shard $(SHARD) $(CANVAS_ARGS) $(if $(SHOW_KEYS),--show-keys)

merge: $(STAMP)
	$(PY) -m helpers.coursework.grading merge $(SHARDS) --out "$(or $(OUT),grades)" $(CANVAS_ARGS)

# The Gradescope autograder (helpers/coursework/grading/gradescope.py): runs the instructor solutions in the
# sandbox once (minutes) and ships their outputs in the zip. TORCH_INDEX_URL: PyTorch's CPU wheel index for setup.sh.
gradescope: $(STAMP)
	@test -n "$(OUT)" || { echo "usage: make gradescope OUT=DIR [TORCH_INDEX_URL=...]"; exit 2; }
	$(PY) -m helpers.coursework.grading.gradescope build --out "$(OUT)" $(if $(TORCH_INDEX_URL),--torch-index-url "$(TORCH_INDEX_URL)")

bench: $(STAMP)
	LAB_BACKEND=offline $(PY) -m helpers.offline.bench

fullsize: $(STAMP)
	$(PY) -m helpers.offline.fullsize

clean:
	rm -rf build .pytest_cache
