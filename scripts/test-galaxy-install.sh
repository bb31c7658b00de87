#!/usr/bin/env bash
# The collection as a user gets it: `ansible-galaxy collection build`, the
# tarball installed into an empty collections path, then used from there only
# (ansible-doc of every module and filter, the playbook privreg.registry.site
# syntax-checked). Galaxy is unreachable: --offline and --no-deps; the
# dependencies community.docker, community.crypto and community.general come with the ansible
# package (its own collections path, which Ansible always searches).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$(dirname "$0")/env.sh"
cd "$PRIVREG_ROOT"

WORK="$PRIVREG_ROOT/.tmp/galaxy-install"
rm -rf "$WORK"
mkdir -p "$WORK/build" "$WORK/collections"

VERSION="$(python3 -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])')"
TARBALL="$WORK/build/privreg-registry-$VERSION.tar.gz"

ansible-galaxy collection build --output-path "$WORK/build" .
echo "tarball: $(du -h "$TARBALL" | cut -f1) in $TARBALL"
# What build_ignore keeps out must stay out: test beds and scripts are not
# part of the collection.
for kept_out in images/ molecule/ scripts/ bench/ .config/ .ruff_cache/ .tmp/ .venv/; do
    if tar -tzf "$TARBALL" | grep -q "^$kept_out"; then
        echo "FAIL: $kept_out is in the tarball" >&2
        exit 1
    fi
done

# From here on, only the installed copy: not the checkout's link in
# .tmp/collections (ansible-galaxy would find privreg.registry already
# there and install nothing), not the checkout on PYTHONPATH.
export ANSIBLE_COLLECTIONS_PATH="$WORK/collections"
unset PYTHONPATH ANSIBLE_ROLES_PATH
ansible-galaxy collection install --offline --no-deps \
    --collections-path "$WORK/collections" "$TARBALL"
cd "$WORK"

INSTALLED="$WORK/collections/ansible_collections/privreg/registry"
listed="$(ansible-galaxy collection list privreg.registry --collections-path "$WORK/collections")"
echo "$listed"
grep -q "privreg.registry *$VERSION" <<<"$listed"

# Every plugin of the tarball documents itself from the installed path.
for module in "$INSTALLED"/plugins/modules/*.py; do
    name="privreg.registry.$(basename "$module" .py)"
    echo "ansible-doc $name"
    doc="$(ansible-doc "$name")"
    grep -q "$INSTALLED/plugins/modules/" <<<"$doc"
done
for filter in $(ansible-doc -t filter --list --json privreg.registry \
        | python3 -c 'import json, sys; print("\n".join(sorted(json.load(sys.stdin))))'); do
    echo "ansible-doc -t filter $filter"
    ansible-doc -t filter "$filter" >/dev/null
done

# The sysadmin's entry point resolves from the install: the playbook, both
# roles and every module and collection it names.
cat >"$WORK/inventory.yml" <<'EOF'
registry:
  hosts:
    localhost:
      ansible_connection: local
EOF
ansible-playbook -i "$WORK/inventory.yml" privreg.registry.site --syntax-check
# site.yml includes its role by a templated name, which --syntax-check does
# not follow: import both roles statically as well.
cat >"$WORK/roles.yml" <<'EOF'
- name: Both roles resolve from the installed collection
  hosts: registry
  gather_facts: false
  tasks:
    - name: The native role parses
      ansible.builtin.import_role:
        name: privreg.registry.registry_native
    - name: The nginx proxy role parses
      ansible.builtin.import_role:
        name: privreg.registry.registry_nginx_proxy
EOF
ansible-playbook -i "$WORK/inventory.yml" "$WORK/roles.yml" --syntax-check

# And it runs: privreg.registry.site from the install deploys a native
# registry on this host (its own names, port and folder, removed at the end);
# the role's last tasks prove anonymous 401 and the user's 200 on /v2/.
PREFIX=privreg-test-galaxy
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cleanup() {
    docker rm -f -v "$PREFIX-registry" "$PREFIX-nginx" >/dev/null 2>&1 || true
    docker volume rm "$PREFIX-registry-socket" >/dev/null 2>&1 || true
    docker network rm "$PREFIX-net" >/dev/null 2>&1 || true
    rm -rf "/etc/docker/certs.d/localhost:$PORT"
}
trap cleanup EXIT
cat >"$WORK/deploy-inventory.yml" <<INVENTORY
registry:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: $(command -v python3)
      registry_topology: native
      registry_host: localhost
      registry_port: $PORT
      registry_bind_address: 127.0.0.1
      registry_base_dir: $WORK/registry
      registry_container_name: $PREFIX-registry
      registry_nginx_container_name: $PREFIX-nginx
      registry_network_name: $PREFIX-net
      registry_image: privreg/registry:2.8.2-debian
      registry_bcrypt_cost: 10
INVENTORY
# the password goes through a 0600 file, never the command line
(umask 077; python3 -c 'import json, secrets; print(json.dumps({"registry_users": [{"name": "galaxy", "password": secrets.token_urlsafe(18)}]}))' >"$WORK/accounts.json")
ansible-playbook -i "$WORK/deploy-inventory.yml" -e "@$WORK/accounts.json" privreg.registry.site
echo "galaxy build and install: ok"
