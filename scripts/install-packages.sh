#!/usr/bin/env bash
# Installs the Debian packages the test bed needs, when missing:
# the engine, the programs the local images are built from, and the clients
# the tests use. Quiet and idempotent; asks apt only when something is missing.
# Runs before the venv exists and reads nothing from the checkout: no env.sh.
set -euo pipefail

PACKAGES=(
    docker.io        # dockerd + CLI: Molecule drives this engine
    docker-registry  # /usr/bin/docker-registry -> privreg/registry image
    nginx            # /usr/sbin/nginx -> privreg/nginx image
    libnginx-mod-http-js  # njs module in privreg/nginx (registry_auth_cache_ttl)
    busybox-static   # sh and wget inside both images (health checks)
    ca-certificates  # CA bundle copied into the images
    apache2-utils    # htpasswd, ab
    curl             # probes in tests
    skopeo           # a second registry client in tests (test_clients_multilayer.py)
    redis-server     # the shared blob-descriptor cache in tests (test_s3_redis_storage.py)
    redis-tools      # redis-cli, to read that cache
    haproxy          # the load balancer in front of replicas in tests (tests/remote/test_replicas.py)
    debootstrap      # the root filesystems of the SSH test hosts (scripts/testbed.sh)
    openssh-client   # ansible and the tests reach those hosts over SSH
    openssl          # test certificates
    iptables         # dockerd's bridge networking and published ports
    shellcheck       # ansible-test sanity skips its shellcheck test without it
    python3-bcrypt   # the system Python's bcrypt 3.2, which the htpasswd module must work with too
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    [ "$status" = installed ] || missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-packages: missing ${missing[*]}; run as root or install them" >&2
    exit 1
fi
echo "install-packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
log="$(mktemp)"
# The nginx package's postinst starts nginx when it can; policy-rc.d says no.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    created_policy=1
fi
cleanup() {
    if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
    rm -f "$log"
}
trap cleanup EXIT
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "install-packages: apt-get failed for ${missing[*]}" >&2
    exit 1
fi
