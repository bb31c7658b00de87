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
"$PRIVREG_VENV/bin/pip" install --quiet --disable-pip-version-check \
    -r "$PRIVREG_ROOT/requirements-dev.txt"
