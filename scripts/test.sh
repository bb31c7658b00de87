#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine (the README's test command;
# .ci/run calls it). Installs what it needs, starts the Docker engine, builds
# the local images once, then runs four lanes side by side and fails when
# any of them failed:
#   pytest   unit and functional tests (PRIVREG_PYTEST_WORKERS: xdist workers, default 1);
#   molecule the Molecule scenarios on this host's engine;
#   testbed  the SSH test bed (build, up), its Molecule scenarios and
#            tests/remote, then the test bed goes away;
#   gates    the quality gates and the galaxy build and install (niced: they
#            take what the other two leave of the cores).
# Each lane's output goes to .tmp/lanes/<lane>.log and is printed when the
# lane ends; each step prints how long it took, the end the whole run against
# the suite's budget (PRIVREG_SUITE_BUDGET, 1800 s: a line, not a failure).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$(dirname "$0")/env.sh"
cd "$PRIVREG_ROOT"

BUDGET="${PRIVREG_SUITE_BUDGET:-1800}"
# pytest runs in one process beside the other lanes: on 2 cores, 3 xdist workers
# plus the other lanes overloaded the machine (load 8-10, registries slower to
# answer than the tests' waits) and re-made module deployments. N > 1 runs
# pytest-xdist with N workers (--dist loadgroup).
WORKERS="${PRIVREG_PYTEST_WORKERS:-1}"
LANES="$PRIVREG_ROOT/.tmp/lanes"
run_start=$SECONDS

# step LABEL COMMAND...: runs it, then prints the seconds it took (and its
# exit status when it failed), under the lane's name. Lanes stop at their
# first failed step.
step() {
    local label="$1" start=$SECONDS rc=0
    shift
    printf '=== [%s] %s (%s)\n' "${LANE:-setup}" "$label" "$(date +%T)"
    "$@" || rc=$?
    printf '=== [%s] %s took %ss%s\n' "${LANE:-setup}" "$label" "$((SECONDS - start))" \
        "$([ "$rc" -eq 0 ] || echo ", FAILED (exit $rc)")"
    return "$rc"
}

# ---- setup: packages first (everything needs them), then the Python
# environment while the engine starts and the images build.
step "system packages" bash scripts/install-packages.sh
mkdir -p "$LANES"
bash scripts/bootstrap-python.sh >"$LANES/python.log" 2>&1 &
python_env=$!
step "docker engine" bash scripts/ensure-docker.sh
step "local images" bash scripts/build-images.sh
step "python environment (began with the engine)" wait "$python_env" \
    || { cat "$LANES/python.log"; exit 1; }
# Again, now that the venv exists: the first time it may not have.
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$PRIVREG_ROOT/scripts/env.sh"
printf '=== setup took %ss\n' "$((SECONDS - run_start))"

# ---- the lanes
# --no-loadscope-reorder: the workers take the groups in the order
# tests/conftest.py gives them (longest first), not by their number of tests.
lane_pytest() {
    local xdist=()
    [ "$WORKERS" -le 1 ] || xdist=(-n "$WORKERS" --dist loadgroup --no-loadscope-reorder)
    step "pytest: unit and functional tests ($WORKERS worker(s))" pytest "${xdist[@]}" --durations=15
}

lane_molecule() {
    step "molecule on this host" bash scripts/test-molecule.sh nginx_proxy native custom_port
}

lane_testbed() {
    step "test bed build (debootstrap, reused when built)" bash scripts/testbed.sh build
    # The hosts go away whatever the tests did; the images stay for the next run.
    trap 'bash scripts/testbed.sh down' EXIT
    step "test bed up" bash scripts/testbed.sh up
    step "molecule on the test bed" bash scripts/test-molecule.sh remote_native remote_nginx_proxy
    step "the README's \"On your hosts\" and the replicas (tests/remote)" \
        env PRIVREG_TESTBED_REQUIRED=1 pytest tests/remote
}

lane_gates() {
    step "quality gates" nice -n 10 bash scripts/lint.sh
    step "galaxy build and install" nice -n 10 bash scripts/test-galaxy-install.sh
}

declare -A lane_pid=()
for lane in pytest molecule testbed gates; do
    # set -e is off inside a function called in a condition: the lane stops
    # at its first failed step through errexit of its own subshell instead.
    (set -e; LANE=$lane; "lane_$lane") >"$LANES/$lane.log" 2>&1 </dev/null &
    lane_pid[$lane]=$!
    printf '=== lane %s started (%s), log %s\n' "$lane" "$(date +%T)" "$LANES/$lane.log"
done

failed=()
for lane in pytest molecule testbed gates; do
    rc=0
    wait "${lane_pid[$lane]}" || rc=$?
    printf '\n=== lane %s ended (%s), exit %s; its log:\n' "$lane" "$(date +%T)" "$rc"
    cat "$LANES/$lane.log"
    [ "$rc" -eq 0 ] || failed+=("$lane")
done

printf '\n=== step times\n'
for lane in pytest molecule testbed gates; do grep -h '^=== \[.*\] .* took ' "$LANES/$lane.log" || true; done
total=$((SECONDS - run_start))
printf '=== whole suite took %ss (budget %ss: %s)\n' "$total" "$BUDGET" \
    "$([ "$total" -le "$BUDGET" ] && echo "within it" || echo "OVER by $((total - BUDGET))s")"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "=== failed lanes: ${failed[*]}" >&2
    exit 1
fi
