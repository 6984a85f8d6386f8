#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image. Gradescope's specification
# ("Autograder Specifications", gradescope-autograders.readthedocs.io/en/latest/specs/): setup.sh and run_autograder
# at the root of the zip; the zip is unpacked into /autograder/source; the images are Ubuntu, so apt works.
# Pick the Ubuntu 22.04 base image: it has python3.11, the Python requirements-lock.txt was written for.
#
# What it installs is what `make setup` installs: torch==2.13.0 (the CPU wheel when course/torch-index-url.txt
# names PyTorch's CPU wheel index; `make gradescope TORCH_INDEX_URL=...` writes it) in the same pip call as
# requirements-dev.txt, constrained by requirements-lock.txt, then the lock check; and bubblewrap, the sandbox.
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${AUTOGRADER_VENV:-/opt/hw3-venv}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends bubblewrap util-linux python3.11 python3.11-venv ca-certificates
python3.11 -m venv "$VENV"
TORCH_INDEX="$(cat "$SOURCE/course/torch-index-url.txt" 2>/dev/null || true)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} \
  torch==2.13.0 -r "$SOURCE/course/requirements-dev.txt" -c "$SOURCE/course/requirements-lock.txt"
(cd "$SOURCE/course" && "$VENV/bin/python" -m helpers.offline.lock check --lock requirements-lock.txt)
chmod -R a+rX "$VENV"          # the student's code runs as an unprivileged user: it needs the interpreter
# Hidden cases, spec, instructor notebooks (solutions, keys) and expected outputs: root only (run_autograder
# applies the same again); the rest (helpers, harness, offline assets) is what the sandbox reads.
(cd "$SOURCE/course" && "$VENV/bin/python" -m helpers.coursework.grading.gradescope lock --root "$(dirname "$SOURCE")")
# Which sandbox run_autograder will use here (bubblewrap, or the unprivileged-user fallback): see the build log.
(cd "$SOURCE/course" && "$VENV/bin/python" -m helpers.coursework.grading.gradescope probe) || true
