#!/usr/bin/env bash
# The quality gates, one entry point: ruff check and ruff format --check
# (both from ruff.toml), yamllint, ansible-lint (profile production, from
# .ansible-lint), the argument_specs check and ansible-test sanity. Runs
# every gate even after one fails, prints a summary with the time each took,
# and exits non-zero when any failed.
set -uo pipefail
source "$(dirname "$0")/env.sh"
cd "$PRIVREG_ROOT" || exit 1

failed=()
summary=()

gate() {
    local name="$1" started rc
    shift
    printf '\n--- %s: %s\n' "$name" "$*"
    started=$SECONDS
    "$@"
    rc=$?
    if [ "$rc" -eq 0 ]; then
        summary+=("$(printf 'ok    %-16s %4ss' "$name" $((SECONDS - started)))")
    else
        summary+=("$(printf 'FAIL  %-16s %4ss  (exit %s)' "$name" $((SECONDS - started)) "$rc")")
        failed+=("$name")
    fi
}

gate ruff ruff check .
gate ruff-format ruff format --check .
gate yamllint yamllint --strict .
# --offline: ansible-lint would otherwise install requirements.yml from
# Galaxy, which is unreachable; the dependencies come with the ansible package.
gate ansible-lint ansible-lint --offline --strict
gate argument-specs python3 scripts/generate_role_interface.py --check
gate sanity bash scripts/sanity.sh
gate docs antsibull-docs lint-collection-docs --plugin-docs .

printf '\n--- quality gates\n'
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'failed: %s\n' "${failed[*]}"
    exit 1
fi
