#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine (the README's test command;
# .ci/run calls it). Installs what it needs, starts the Docker engine, builds
# the local images once, then runs every stage; stops at the first failure.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$(dirname "$0")/env.sh"
cd "$PRIVREG_ROOT"

# Each stage line also says how long the previous stage took, and the last
# one the whole run, so a CI log shows where the time went.
stage_name="" stage_start=$SECONDS run_start=$SECONDS
stage() {
    [ -z "$stage_name" ] || printf '=== %s took %ss\n' "$stage_name" "$((SECONDS - stage_start))"
    stage_name="$1" stage_start=$SECONDS
    printf '\n=== %s (%s)\n' "$1" "$(date +%T)"
}

stage "system packages";   bash scripts/install-packages.sh
stage "python environment"; bash scripts/bootstrap-python.sh
# Again, now that the venv exists: the first time it may not have.
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$PRIVREG_ROOT/scripts/env.sh"
stage "docker engine";     bash scripts/ensure-docker.sh
stage "local images";      bash scripts/build-images.sh
# The test bed's root filesystems (debootstrap: mostly downloads and disk)
# build meanwhile, when they are not built already.
stage "unit and functional tests (the test bed builds meanwhile)"
bash scripts/testbed.sh build >"$PRIVREG_ROOT/.tmp/testbed-build.log" 2>&1 &
testbed_build=$!
pytest
stage "SSH test bed (Debian 12 and 13 hosts)"
wait "$testbed_build" || { cat "$PRIVREG_ROOT/.tmp/testbed-build.log"; exit 1; }
cat "$PRIVREG_ROOT/.tmp/testbed-build.log"
bash scripts/testbed.sh up
# The hosts go away whatever the tests did; the images stay for the next run.
trap 'bash scripts/testbed.sh down' EXIT
stage "molecule scenarios (local, then remote_* on the test bed)"
bash scripts/test-molecule.sh
stage "the README's \"On your hosts\" on the test bed"
PRIVREG_TESTBED_REQUIRED=1 pytest tests/remote
bash scripts/testbed.sh down
trap - EXIT
stage "quality gates";     bash scripts/lint.sh
stage "galaxy build and install"; bash scripts/test-galaxy-install.sh
stage "done"
printf '=== whole suite took %ss\n' "$((SECONDS - run_start))"
