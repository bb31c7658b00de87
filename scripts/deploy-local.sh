#!/usr/bin/env bash
# Deploys a working private registry on THIS machine, from nothing:
#   sudo bash scripts/deploy-local.sh
# installs the Debian packages and starts dockerd when no engine answers,
# builds the registry and nginx images from Debian packages (no registry
# needs to be reachable), creates the Python environment, then runs
#   ansible-playbook -i inventory/localhost.yml playbooks/site.yml
# with an `admin` account. Its password is generated on the first run into a
# 0600 file and shown once; later runs reuse it (and change nothing else).
#
# Env: PRIVREG_TOPOLOGY   native or nginx_proxy (unset: the playbook's default)
#      PRIVREG_STATE_DIR  where the password file lives (default ~/.privreg)
#      PRIVREG_ADMIN_USER account name (default admin)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$(dirname "$0")/env.sh"
cd "$PRIVREG_ROOT"

TOPOLOGY="${PRIVREG_TOPOLOGY:-}"
STATE_DIR="${PRIVREG_STATE_DIR:-$HOME/.privreg}"
ADMIN_USER="${PRIVREG_ADMIN_USER:-admin}"
PASSWORD_FILE="$STATE_DIR/$ADMIN_USER.password"
INVENTORY=inventory/localhost.yml

say() { echo "deploy-local: $*"; }

bash scripts/install-packages.sh
bash scripts/ensure-docker.sh
bash scripts/build-images.sh
bash scripts/bootstrap-python.sh
# Again, now that the venv exists: the first time it may not have.
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$PRIVREG_ROOT/scripts/env.sh"

# Everything written from here on is for root's eyes only.
umask 077
mkdir -p "$STATE_DIR"
chmod 0700 "$STATE_DIR"
new_password=0
if [ ! -s "$PASSWORD_FILE" ]; then
    python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$PASSWORD_FILE"
    new_password=1
fi
chmod 0600 "$PASSWORD_FILE"

# The password reaches ansible through a 0600 extra-vars file, never argv.
extra_vars="$(mktemp "$STATE_DIR/extra-vars.XXXXXX.json")"
trap 'rm -f "$extra_vars"' EXIT
python3 - "$PASSWORD_FILE" "$ADMIN_USER" "$TOPOLOGY" >"$extra_vars" <<'PY'
import json
import sys

password_file, user, topology = sys.argv[1:]
with open(password_file, encoding="utf-8") as handle:
    password = handle.read().strip()
extra_vars = {
    "registry_users": [{"name": user, "password": password}],
    # Built by scripts/build-images.sh from Debian packages.
    "registry_image": "privreg/registry:2.8.2-debian",
    "registry_nginx_image": "privreg/nginx:1.22-debian",
}
if topology:
    extra_vars["registry_topology"] = topology
json.dump(extra_vars, sys.stdout)
PY

say "running playbooks/site.yml (${TOPOLOGY:-default topology}) with $INVENTORY"
ansible-playbook -i "$INVENTORY" playbooks/site.yml -e "@$extra_vars"

# What clients type, by the collection's own rule (no port for 443).
endpoint="$(ansible-inventory -i "$INVENTORY" --host localhost | python3 -c '
import json, sys
from ansible_collections.privreg.registry.plugins.module_utils._endpoint import endpoint
host_vars = json.load(sys.stdin)
print(endpoint(host_vars["registry_host"], host_vars.get("registry_port", 443)))
')"
echo
say "the registry answers at https://$endpoint/v2/ (${TOPOLOGY:-default topology})"
if [ "$new_password" = 1 ]; then
    say "account $ADMIN_USER, password (shown this once, kept in $PASSWORD_FILE, mode 0600):"
    echo "    $(cat "$PASSWORD_FILE")"
else
    say "account $ADMIN_USER, password in $PASSWORD_FILE (mode 0600)"
fi
cat <<EOT

Log in and push (the docker client on this machine trusts the registry's CA):
    docker login $endpoint --username $ADMIN_USER --password-stdin < $PASSWORD_FILE
    docker tag privreg/registry:2.8.2-debian $endpoint/tools/registry:2.8.2
    docker push $endpoint/tools/registry:2.8.2
    docker logout $endpoint
EOT
