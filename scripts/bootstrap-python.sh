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
# --no-compile, then compileall: pip byte-compiles every file it installs, and the
# ansible package bundles tens of thousands of files of collections the roles never
# load (123 CPU seconds and 190 s with pip's compile, 52 and 79 s without, same
# cache side by side). Python cannot be left to compile what a run imports: with
# PYTHONDONTWRITEBYTECODE set (as on the machines this suite runs on) it compiles every import of
# every run again, ansible-playbook's own included (a no-change converge here took
# 11% more CPU from source). So everything but those collections is compiled here,
# on every core, and the collections the roles and tests use.
"$PRIVREG_VENV/bin/pip" install --quiet --disable-pip-version-check --no-compile \
    -r "$PRIVREG_ROOT/requirements-dev.txt"
SITE="$("$PRIVREG_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$PRIVREG_VENV/bin/python" -m compileall -q -j 0 -x '/ansible_collections/' "$SITE" >/dev/null
"$PRIVREG_VENV/bin/python" -m compileall -q -j 0 \
    "$SITE"/ansible_collections/{community/docker,community/crypto,community/general} >/dev/null
