#!/usr/bin/env bash
# Creates .venv with everything the tests and the controller need
# (requirements-dev.txt). Safe to re-run: pip skips what is installed.
# Runs before the venv exists: env.sh then sets only the paths.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$(dirname "$0")/env.sh"
if [ ! -x "$PRIVREG_VENV/bin/python" ]; then
    python3 -m venv "$PRIVREG_VENV"
fi
# --no-compile: byte-compiling every file of the ansible package (its bundled
# collections are tens of thousands of files) was more than half the install: 123
# CPU seconds and 190 s with it, 52 and 79 s without (same cache, side by side). Python
# compiles the few modules a run imports the first time it imports them.
"$PRIVREG_VENV/bin/pip" install --quiet --disable-pip-version-check --no-compile \
    -r "$PRIVREG_ROOT/requirements-dev.txt"
