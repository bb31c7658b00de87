#!/usr/bin/env bash
# Runs `molecule test` for every scenario under molecule/ (testbed first), all
# of them even when one fails, prints one summary line per scenario and exits
# non-zero if any failed. Then removes what a failed scenario may have left:
# containers, volumes and networks labelled `privreg.molecule` or named privreg-molecule-*.
# The remote_* scenarios run on the SSH test bed, which it starts
# (scripts/testbed.sh build, up) and leaves up.
#
# Usage: test-molecule.sh [SCENARIO...]    (default: every molecule/*/molecule.yml)
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
    [ -f molecule/testbed/molecule.yml ] && scenarios+=(testbed)
    for file in molecule/*/molecule.yml; do
        [ -f "$file" ] || continue
        name="$(basename "$(dirname "$file")")"
        [ "$name" = testbed ] || scenarios+=("$name")
    done
fi
[ "${#scenarios[@]}" -gt 0 ] || { echo "test-molecule: no scenarios under molecule/" >&2; exit 1; }

# The remote_* scenarios' hosts are the SSH test bed: built and started once
# (cheap when up already) and left up, for the next scenario or tests/remote;
# `scripts/testbed.sh down` removes it.
for name in "${scenarios[@]}"; do
    case "$name" in
        remote_*)
            bash scripts/testbed.sh build && bash scripts/testbed.sh up || exit 1
            break
            ;;
    esac
done

LOGS="$PRIVREG_ROOT/.tmp/molecule-logs"
mkdir -p "$LOGS"
summary=()
failed=0
for name in "${scenarios[@]}"; do
    printf '\n=== molecule test -s %s\n' "$name"
    start=$SECONDS
    molecule test -s "$name" 2>&1 | tee "$LOGS/$name.log"
    rc=${PIPESTATUS[0]}
    status=passed note=""
    if [ "$rc" -ne 0 ]; then status=FAILED note="rc $rc, log $LOGS/$name.log"; failed=1; fi
    summary+=("$(printf '%-20s %-7s %4ss  %s' "$name" "$status" "$((SECONDS - start))" "$note")")
done

# $1: a docker listing command that takes --filter and prints ids.
leftovers() {
    { $1 --filter label=privreg.molecule; $1 --filter name=privreg-molecule-; } 2>/dev/null | sort -u
}
containers="$(leftovers "docker container ls -aq")"
if [ -n "$containers" ]; then
    echo "test-molecule: removing leftover containers: ${containers//$'\n'/ }"
    # shellcheck disable=SC2086
    docker container rm -f -v $containers >/dev/null
fi
volumes="$(leftovers "docker volume ls -q")"
if [ -n "$volumes" ]; then
    echo "test-molecule: removing leftover volumes: ${volumes//$'\n'/ }"
    # shellcheck disable=SC2086
    docker volume rm -f $volumes >/dev/null
fi
networks="$(leftovers "docker network ls -q")"
if [ -n "$networks" ]; then
    echo "test-molecule: removing leftover networks: ${networks//$'\n'/ }"
    # shellcheck disable=SC2086
    docker network rm $networks >/dev/null
fi

printf '\n=== molecule summary\n'
printf '%s\n' "${summary[@]}"
exit "$failed"
