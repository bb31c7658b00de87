#!/usr/bin/env bash
# Runs `molecule test` for the scenarios named (default: every
# molecule/*/molecule.yml), all of them even when one fails, prints one summary
# line per scenario with its seconds and the seconds of each of its steps, and
# exits non-zero if any failed.
#
# Safe beside another run of this script and beside pytest on the same engine:
# after each scenario it removes only what THAT scenario may have left on this
# host's engine, found by the names in its own molecule.yml
# (provisioner.inventory.group_vars): every value of a key ending in
# _container_name, _network_name or _volume_name, and every container, volume
# or network whose name begins with one of those followed by - or _ (the
# role's <registry>-socket volume and <registry>-release-probe container,
# nginx's <nginx>_configtest, a test's own <registry>-trap-*), plus anything
# labelled privreg.molecule=<scenario>. Nothing else: not pytest's
# privreg-test-*, not another scenario's, not the test bed. The remote
# scenario names no local objects (their hosts are the test bed's, with
# engines of their own), so nothing is removed for them here.
#
# The remote scenario runs on the SSH test bed, which it builds and starts
# (scripts/testbed.sh build, up) and leaves up.
#
# Usage: test-molecule.sh [SCENARIO...]
# Logs: .tmp/molecule-logs/<scenario>.log
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$(dirname "$0")/env.sh"
cd "$PRIVREG_ROOT" || exit 1

# Cheap when done already: the scenarios need the engine and the local images.
bash scripts/ensure-docker.sh || exit 1
bash scripts/build-images.sh || exit 1

scenarios=("$@")
if [ "${#scenarios[@]}" -eq 0 ]; then
    for file in molecule/*/molecule.yml; do
        [ -f "$file" ] && scenarios+=("$(basename "$(dirname "$file")")")
    done
fi
[ "${#scenarios[@]}" -gt 0 ] || { echo "test-molecule: no scenarios under molecule/" >&2; exit 1; }
for name in "${scenarios[@]}"; do
    [ -f "molecule/$name/molecule.yml" ] || { echo "test-molecule: no scenario molecule/$name" >&2; exit 1; }
done

# The remote scenario's hosts are the SSH test bed: built and started once
# (cheap when up already) and left up, for the next scenario or tests/remote;
# `scripts/testbed.sh down` removes it.
for name in "${scenarios[@]}"; do
    case "$name" in
        remote)
            bash scripts/testbed.sh build && bash scripts/testbed.sh up || exit 1
            break
            ;;
    esac
done

# $1: a scenario. Prints the docker object names its molecule.yml gives
# (see the header), one a line.
scenario_names() {
    python3 - "molecule/$1/molecule.yml" <<'EOF'
import sys

import yaml

with open(sys.argv[1], encoding="utf-8") as stream:
    config = yaml.safe_load(stream) or {}
groups = ((config.get("provisioner") or {}).get("inventory") or {}).get("group_vars") or {}
suffixes = ("_container_name", "_network_name", "_volume_name")
names = {
    value
    for variables in groups.values()
    for key, value in (variables or {}).items()
    if key.endswith(suffixes) and isinstance(value, str) and value
}
print("\n".join(sorted(names)))
EOF
}

# $1: what (container, volume, network); $2: the scenario; $3: its names.
# Prints the ids or names of the objects of that kind that are the scenario's.
scenario_objects() {
    local kind="$1" scenario="$2" names="$3" list=(docker "$1" ls) format='{{.Name}}'
    [ "$kind" = container ] && list+=(--all) format='{{.Names}}'
    {
        if [ -n "$names" ]; then
            "${list[@]}" --format "$format" 2>/dev/null | OWN="$names" awk '
                BEGIN { n = split(ENVIRON["OWN"], own) }
                {
                    for (i = 1; i <= n; i++) {
                        if ($0 == own[i] || index($0, own[i] "-") == 1 || index($0, own[i] "_") == 1) {
                            print
                            next
                        }
                    }
                }'
        fi
        "${list[@]}" --format "$format" --filter "label=privreg.molecule=$scenario" 2>/dev/null
    } | sort -u
}

# $1: a scenario. Removes what it left on this host's engine (see the header).
remove_leftovers() {
    local scenario="$1" names found
    names="$(scenario_names "$scenario")" || { echo "test-molecule: cannot read molecule/$scenario/molecule.yml" >&2; return 1; }
    found="$(scenario_objects container "$scenario" "$names")"
    if [ -n "$found" ]; then
        echo "test-molecule: $scenario left containers: ${found//$'\n'/ }; removing them"
        # shellcheck disable=SC2086
        docker container rm -f -v $found >/dev/null
    fi
    found="$(scenario_objects volume "$scenario" "$names")"
    if [ -n "$found" ]; then
        echo "test-molecule: $scenario left volumes: ${found//$'\n'/ }; removing them"
        # shellcheck disable=SC2086
        docker volume rm -f $found >/dev/null
    fi
    found="$(scenario_objects network "$scenario" "$names")"
    if [ -n "$found" ]; then
        echo "test-molecule: $scenario left networks: ${found//$'\n'/ }; removing them"
        # shellcheck disable=SC2086
        docker network rm $found >/dev/null
    fi
}

# Copies molecule's output (standard input) to the terminal and to $1, and
# writes the seconds of each step to $2 as "step=seconds" words: a step runs
# from its "INFO [<scenario> > <step>] Executing" line to the next step's.
timed_log() {
    local log="$1" steps="$2" line step="" started="" now
    : >"$log"
    : >"$steps"
    while IFS= read -r line || [ -n "$line" ]; do
        printf '%s\n' "$line"
        printf '%s\n' "$line" >>"$log"
        if [[ "$line" =~ ^INFO\ +\[[^\ ]+\ \>\ ([a-z_]+)\]\ Executing$ ]]; then
            now=${EPOCHREALTIME/[^0-9]/}
            [ -n "$step" ] && printf '%s=%s ' "$step" $(((now - started + 500000) / 1000000)) >>"$steps"
            step="${BASH_REMATCH[1]}" started=$now
        fi
    done
    now=${EPOCHREALTIME/[^0-9]/}
    [ -n "$step" ] && printf '%s=%s' "$step" $(((now - started + 500000) / 1000000)) >>"$steps"
}

LOGS="$PRIVREG_ROOT/.tmp/molecule-logs"
mkdir -p "$LOGS"
summary=()
failed=0
for name in "${scenarios[@]}"; do
    printf '\n=== molecule test -s %s\n' "$name"
    start=$SECONDS
    molecule test -s "$name" 2>&1 | timed_log "$LOGS/$name.log" "$LOGS/$name.steps"
    rc=${PIPESTATUS[0]}
    status=passed note=""
    if [ "$rc" -ne 0 ]; then status=FAILED note="rc $rc, log $LOGS/$name.log"; failed=1; fi
    remove_leftovers "$name" || failed=1
    summary+=("$(printf '%-20s %-7s %4ss  %s' "$name" "$status" "$((SECONDS - start))" "$note")")
    summary+=("$(printf '    steps (s): %s' "$(cat "$LOGS/$name.steps")")")
done

printf '\n=== molecule summary\n'
printf '%s\n' "${summary[@]}"
exit "$failed"
