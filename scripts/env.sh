# shellcheck shell=bash
# Sourced by the other scripts: one place that says where things live.
# Sets PRIVREG_ROOT, puts the collection where Ansible and Python find it as
# privreg.registry, and activates the project's virtualenv if it exists.
PRIVREG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PRIVREG_ROOT
PRIVREG_VENV="${PRIVREG_VENV:-$PRIVREG_ROOT/.venv}"
export PRIVREG_VENV
# The SSH test bed's key, inventory and image archives (scripts/testbed.sh);
# the remote Molecule scenarios read them from here.
PRIVREG_TESTBED_DIR="${PRIVREG_TESTBED_DIR:-$PRIVREG_ROOT/.tmp/testbed}"
export PRIVREG_TESTBED_DIR
PRIVREG_COLLECTIONS="$PRIVREG_ROOT/.tmp/collections"
export PRIVREG_COLLECTIONS

# Ansible only loads a collection from <path>/ansible_collections/<namespace>/<name>.
mkdir -p "$PRIVREG_COLLECTIONS/ansible_collections/privreg"
ln -sfn "$PRIVREG_ROOT" "$PRIVREG_COLLECTIONS/ansible_collections/privreg/registry"
export ANSIBLE_COLLECTIONS_PATH="$PRIVREG_COLLECTIONS"
export PYTHONPATH="$PRIVREG_COLLECTIONS${PYTHONPATH:+:$PYTHONPATH}"
export ANSIBLE_ROLES_PATH="$PRIVREG_ROOT/roles"
export ANSIBLE_NOCOLOR=1
export ANSIBLE_FORCE_COLOR=0

if [ -x "$PRIVREG_VENV/bin/python" ]; then
    export PATH="$PRIVREG_VENV/bin:$PATH"
    export VIRTUAL_ENV="$PRIVREG_VENV"
fi
