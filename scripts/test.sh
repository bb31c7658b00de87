#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine (the README's test command;
# .ci/run calls it). Installs what it needs, starts the Docker engine, builds
# the local images once, then runs four lanes side by side and fails when
# any of them failed:
#   pytest   unit and functional tests (PRIVREG_PYTEST_WORKERS: xdist workers, default 1);
#   pytest2  the functional test modules of PYTEST_SECOND in a pytest of their own;
#   molecule the Molecule scenarios on this host's engine;
#   testbed  the SSH test bed (build, up), its Molecule scenarios and
#            tests/remote, then the test bed goes away and the quality gates,
#            the docsite build and the galaxy build and install run; it starts first, as its
#            build needs no Python environment (it runs beside pip).
# Each lane's output goes to .tmp/lanes/<lane>.log and is printed when the
# lane ends; each step prints how long it took, the end the whole run against
# the suite's budget (PRIVREG_SUITE_BUDGET, 1800 s: a line, not a failure).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$(dirname "$0")/env.sh"
cd "$PRIVREG_ROOT"

BUDGET="${PRIVREG_SUITE_BUDGET:-1800}"
# Every ansible run of the suite (local connection included) sends its modules
# through the connection instead of writing, chmod-ing and removing a file per
# task: a fifth less CPU per task here, and the cores are the suite's limit.
export ANSIBLE_PIPELINING=True
# pytest runs in one process beside the other lanes: on 2 cores, 3 xdist workers
# plus the other lanes overloaded the machine (load 8-10, registries slower to
# answer than the tests' waits) and re-made module deployments. N > 1 runs
# pytest-xdist with N workers (--dist loadgroup).
WORKERS="${PRIVREG_PYTEST_WORKERS:-1}"
# Functional test modules with deployments of their own (none reads the shared default ones) that run in
# a second pytest, a lane of their own: in one pytest the functional tests were the longest lane by far (5596 s
# of a 5750 s run, the last of it on one core after the other lanes had ended). Every other test module runs
# in the pytest lane, the upgrade test too: run after the Molecule scenarios, it made that lane the longest
# (1241 + 105 s, where the pytest lane took 1130 s).
PYTEST_SECOND=(
    tests/functional/test_garbage_collection.py
    tests/functional/test_s3_redis_storage.py
    tests/functional/test_accounts_hardening.py
    tests/functional/test_access_rules.py
)
LANES="$PRIVREG_ROOT/.tmp/lanes"
run_start=$SECONDS
mkdir -p "$LANES"

# machine_busy: the seconds every core of this machine spent busy (not idle, not waiting on disk)
# since boot, from /proc/stat: containers and the engine included.
machine_busy() {
    local user nice system irq softirq steal
    read -r _ user nice system _ _ irq softirq steal _ </proc/stat
    echo $(((user + nice + system + irq + softirq + steal) / $(getconf CLK_TCK)))
}
busy_start="$(machine_busy)"

# step LABEL COMMAND...: runs it, then prints the seconds it took (and its
# exit status when it failed), under the lane's name. Lanes stop at their
# first failed step.
step() {
    local label="$1" start=$SECONDS cpu rc=0
    shift
    printf '=== [%s] %s (%s)\n' "${LANE:-setup}" "$label" "$(date +%T)"
    children_cpu
    cpu=$CHILDREN_CPU
    "$@" || rc=$?
    children_cpu
    printf '=== [%s] %s took %ss (cpu %ss)%s\n' "${LANE:-setup}" "$label" "$((SECONDS - start))" \
        "$((CHILDREN_CPU - cpu))" "$([ "$rc" -eq 0 ] || echo ", FAILED (exit $rc)")"
    return "$rc"
}

# children_cpu: sets CHILDREN_CPU to the CPU seconds (user + system) of this shell's finished children
# so far (a variable, not output: in $(...) it would count that subshell's children).
# The 2 cores are the suite's limit, so each step says what it cost of them as well as how long it
# took; what containers do runs under the engine and is not counted here (see the last lines).
children_cpu() {
    local user system minutes
    times >"$LANES/.times.$BASHPID"
    { read -r _; read -r user system; } <"$LANES/.times.$BASHPID"
    rm -f "$LANES/.times.$BASHPID"
    minutes=$((10#${user%%m*} + 10#${system%%m*}))
    user="${user#*m}" system="${system#*m}"
    CHILDREN_CPU=$((minutes * 60 + 10#${user%%.*} + 10#${system%%.*}))
}

declare -A lane_pid=()
# start_lane NAME: runs lane_NAME in the background, its output in its log.
start_lane() {
    # set -e is off inside a function called in a condition: the lane stops
    # at its first failed step through errexit of its own subshell instead.
    (set -e; LANE=$1; "lane_$1") >"$LANES/$1.log" 2>&1 </dev/null &
    lane_pid[$1]=$!
    printf '=== lane %s started (%s), log %s\n' "$1" "$(date +%T)" "$LANES/$1.log"
}

# wait_for_python: in a lane started before the Python environment was ready, waits for the
# setup's verdict on it (python.rc) and fails when it failed.
wait_for_python() {
    until [ -e "$LANES/python.rc" ]; do sleep 2; done
    [ "$(cat "$LANES/python.rc")" = 0 ]
}

# ---- the lanes
# --no-loadscope-reorder: the workers take the groups in the order
# tests/conftest.py gives them (longest first), not by their number of tests.
lane_pytest() {
    local xdist=() module second=()
    [ "$WORKERS" -le 1 ] || xdist=(-n "$WORKERS" --dist loadgroup --no-loadscope-reorder)
    for module in "${PYTEST_SECOND[@]}"; do second+=("--ignore=$module"); done
    step "pytest: unit and functional tests but the other lanes' ($WORKERS worker(s))" \
        pytest "${xdist[@]}" "${second[@]}" --durations=15
}

lane_pytest2() {
    step "pytest: ${PYTEST_SECOND[*]##*/}" pytest --durations=10 "${PYTEST_SECOND[@]}"
}

lane_molecule() {
    step "molecule on this host" bash scripts/test-molecule.sh nginx_proxy native custom_port
}

lane_testbed() {
    step "test bed build (debootstrap, reused when built)" bash scripts/testbed.sh build
    step "python environment (the setup's)" wait_for_python
    # shellcheck source-path=SCRIPTDIR source=env.sh
    source "$PRIVREG_ROOT/scripts/env.sh"
    # The hosts go away whatever the tests did; the images stay for the next run.
    trap 'bash scripts/testbed.sh down' EXIT
    step "test bed up" bash scripts/testbed.sh up
    step "molecule on the test bed" bash scripts/test-molecule.sh remote
    step "the README's \"On your hosts\" and the replicas (tests/remote)" \
        env PRIVREG_TESTBED_REQUIRED=1 pytest tests/remote
    step "test bed down" bash scripts/testbed.sh down
    trap - EXIT
    # The gates come last in this lane, the one that ends first without them (its steps mostly wait on
    # SSH). Niced, first in a lane of their own, they took 95 s in one run and 729 s in another, where
    # that lane was the longest (1886 s; this one 1274 s): what nice leaves them depends on the machine.
    step "quality gates" bash scripts/lint.sh
    step "docsite: the HTML build, a warning fails it" bash scripts/build-docsite.sh
    step "galaxy build and install" bash scripts/test-galaxy-install.sh
}

# ---- setup: packages first (everything needs them), then the Python
# environment while the engine starts and the images build.
step "system packages" bash scripts/install-packages.sh
rm -f "$LANES/python.rc"
bash scripts/bootstrap-python.sh >"$LANES/python.log" 2>&1 &
python_env=$!
step "docker engine" bash scripts/ensure-docker.sh
step "local images" bash scripts/build-images.sh
# The test bed's build (debootstrap) needs only the engine: its lane starts now, beside pip, and
# waits for the Python environment (python.rc) before its first ansible run.
start_lane testbed
python_rc=0
step "python environment (began with the engine)" wait "$python_env" || python_rc=$?
echo "$python_rc" >"$LANES/python.rc"
[ "$python_rc" -eq 0 ] || { cat "$LANES/python.log"; wait "${lane_pid[testbed]}"; exit 1; }
# Again, now that the venv exists: the first time it may not have.
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$PRIVREG_ROOT/scripts/env.sh"
printf '=== setup took %ss\n' "$((SECONDS - run_start))"

# ---- the other lanes, once the Python environment is ready
for lane in pytest pytest2 molecule; do start_lane "$lane"; done

failed=()
for lane in pytest pytest2 molecule testbed; do
    rc=0
    wait "${lane_pid[$lane]}" || rc=$?
    printf '\n=== lane %s ended (%s), exit %s; its log:\n' "$lane" "$(date +%T)" "$rc"
    cat "$LANES/$lane.log"
    [ "$rc" -eq 0 ] || failed+=("$lane")
done

printf '\n=== step times\n'
for lane in pytest pytest2 molecule testbed; do grep -h '^=== \[.*\] .* took ' "$LANES/$lane.log" || true; done
total=$((SECONDS - run_start))
printf '=== the cores were busy %ss of %ss (%s cores)\n' "$(($(machine_busy) - busy_start))" \
    "$((total * $(nproc)))" "$(nproc)"
printf '=== whole suite took %ss (budget %ss: %s)\n' "$total" "$BUDGET" \
    "$([ "$total" -le "$BUDGET" ] && echo "within it" || echo "OVER by $((total - BUDGET))s")"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "=== failed lanes: ${failed[*]}" >&2
    exit 1
fi
