#!/usr/bin/env bash
# A test bed of target hosts reached over SSH, for tests of the roles on a real
# remote host (tests/remote/): each host is a container with its own address,
# its own Docker engine (its own /var/lib/docker volume) and its own
# filesystem, entered as the non-root user `deploy` with a key and
# passwordless sudo, like a sysadmin's server.
#
# Nothing can be pulled here, so the hosts' images are Debian root filesystems
# made by debootstrap from the mirror this host's apt uses, then `docker
# import`ed. `docker run --privileged` fails in this sandbox (it lacks
# CAP_SYS_RESOURCE): the hosts get every other capability instead, which is
# what their own dockerd needs. There is no systemd in them: the command
# starts dockerd, then sshd in the foreground.
#
# Usage: testbed.sh build | up | down | status
#   build  debootstrap bookworm and trixie once, imported as
#          privreg-testbed/debian:<release>-<recipe> (an image of this recipe is reused)
#   up     start privreg-testbed-bookworm, -trixie and -client (bookworm), write
#          the inventory $PRIVREG_TESTBED_DIR/inventory.yml, wait for ssh and dockerd;
#          save the local images to $PRIVREG_TESTBED_DIR/images/{registry,nginx}.tar,
#          the archives the plays copy to the hosts (they can pull nothing)
#   down   remove the hosts and their /var/lib/docker volumes (the images stay)
#   status print the inventory when every host answers, exit 1 otherwise
# Env: PRIVREG_TESTBED_DIR (scripts/env.sh: .tmp/testbed of the checkout): key,
#      inventory, image archives;
#      PRIVREG_TESTBED_CLIENT_RELEASE (default bookworm): the client's release;
#      PRIVREG_TESTBED_TIMEOUT (default 120): seconds each host has to answer.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$(dirname "$0")/env.sh"

TESTBED_DIR="$PRIVREG_TESTBED_DIR"
IMAGE_REPO=privreg-testbed/debian
RELEASES=(bookworm trixie)
NETWORK=privreg-testbed-net
# A subnet of its own: the hosts' engines keep their default 172.17.0.0/16
# bridge without overlapping the addresses they are reached on.
SUBNET=172.30.213.0/24
# This machine's address on it: what the hosts reach services of the tests on
# (S3, Redis, a load balancer), written to the inventory as testbed_controller_address.
GATEWAY=172.30.213.1
# host name:release; the client is a second host of a release (bookworm unless
# PRIVREG_TESTBED_CLIENT_RELEASE says), the docker client of the tests.
CLIENT_RELEASE="${PRIVREG_TESTBED_CLIENT_RELEASE:-bookworm}"
HOSTS=(privreg-testbed-bookworm:bookworm privreg-testbed-trixie:trixie "privreg-testbed-client:$CLIENT_RELEASE")
KEY="$TESTBED_DIR/id_ed25519"
INVENTORY="$TESTBED_DIR/inventory.yml"
# One SSH connection per host, shared by every ssh of this script, of Ansible
# (the inventory's ansible_ssh_common_args) and of the tests: a command then
# costs no new handshake. The sockets live here, not in ~/.ansible/cp, so
# `down` closes them: the next hosts get the same addresses, and a connection
# kept to a removed host would take their commands.
CONTROL_DIR="$TESTBED_DIR/ssh-control"
SSH_SHARING="-o ControlMaster=auto -o ControlPersist=120s -o ControlPath=$CONTROL_DIR/%C"
# What a minimal Debian server has, plus its engine, sshd and curl (the tests'
# client checks status codes with it). Not the Python
# libraries of the roles' modules (bcrypt, requests, cryptography) nor
# python3-apt: the roles and Ansible's apt module install those on a first
# run, as they must on a sysadmin's fresh host.
PACKAGES=docker.io,openssh-server,sudo,python3,iproute2,iptables,ca-certificates,procps,curl
# From trixie on, the docker CLI is its own package (docker.io only recommends
# it, and debootstrap installs no recommends).
packages_of() {
    case "$1" in
        bookworm) echo "$PACKAGES" ;;
        *) echo "$PACKAGES,docker-cli" ;;
    esac
}
WAIT_SECONDS="${PRIVREG_TESTBED_TIMEOUT:-120}"

say() { echo "testbed: $*"; }
die() { echo "testbed: $*" >&2; exit 1; }

# Runs "$@" and prints how many seconds it took, under the label $1.
timed() {
    local label="$1" start=$SECONDS
    shift
    "$@"
    say "$label: $((SECONDS - start))s"
}

mirror() {
    # The mirror this host's apt reaches (deb822 or one-line sources), else Debian's.
    grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | head -n 1 | tr -d ' ' || true
}

# The command of every host: dockerd in the background (its log in a file, for
# when it does not answer), then sshd as the container's main process.
write_init() {
    cat >"$1/usr/local/sbin/privreg-testbed-init" <<'EOF'
#!/bin/sh
set -eu
# Each host gets its own host keys, made on its first start.
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
# The key `up` mounts: copied, as sshd insists the file belongs to its user.
if [ -f /etc/privreg-testbed/authorized_keys ]; then
    install -d -o deploy -g deploy -m 0700 /home/deploy/.ssh
    install -o deploy -g deploy -m 0600 /etc/privreg-testbed/authorized_keys /home/deploy/.ssh/authorized_keys
fi
rm -f /var/run/docker.pid /run/docker/containerd/containerd.pid
# The hosts share this machine's cgroup tree: a parent of each host's own keeps
# their containers apart from the outer engine's.
dockerd --cgroup-parent="/$(hostname)" >/var/log/dockerd.log 2>&1 &
exec /usr/sbin/sshd -D -e
EOF
    chmod 0755 "$1/usr/local/sbin/privreg-testbed-init"
}

# An interrupted debootstrap leaves /proc and /sys mounted in the rootfs:
# unmounted (deepest first) before the folder is removed, and rm stays on its
# own filesystem whatever is left.
remove_rootfs() {
    local mount
    [ -d "$1" ] || return 0
    awk -v root="$1/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r \
        | while read -r mount; do umount -l "$mount"; done
    rm -rf --one-file-system "$1"
}

# debootstrap's chatter goes to a log; only a failure shows it.
debootstrap_release() {
    local log="$TESTBED_DIR/debootstrap-$1.log"
    debootstrap --variant=minbase --include="$(packages_of "$1")" "$1" "$2" "$3" >"$log" 2>&1 \
        || die "debootstrap $1 failed; see $log and $2/debootstrap/debootstrap.log"
}

build_release() {
    local release="$1" rootfs m
    rootfs="$TESTBED_DIR/rootfs-$release"
    m="$(mirror)"
    remove_rootfs "$rootfs"
    mkdir -p "$rootfs"
    timed "$release debootstrap" debootstrap_release "$release" "$rootfs" "${m:-http://deb.debian.org/debian}"
    # The deploy user: uid 1000, no password (key only), passwordless sudo.
    chroot "$rootfs" useradd --uid 1000 --create-home --shell /bin/bash deploy
    echo 'deploy ALL=(ALL) NOPASSWD: ALL' >"$rootfs/etc/sudoers.d/deploy"
    chmod 0440 "$rootfs/etc/sudoers.d/deploy"
    # useradd leaves the account locked ('!'): sshd of Debian still accepts a key for it.
    printf 'PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no\nUseDNS no\n' \
        >"$rootfs/etc/ssh/sshd_config.d/privreg-testbed.conf"
    # The image must not carry host keys: every host makes its own.
    rm -f "$rootfs"/etc/ssh/ssh_host_*
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    write_init "$rootfs"
    timed "$release import" sh -c "tar -C '$rootfs' -c . | docker import \
        -c 'CMD [\"/usr/local/sbin/privreg-testbed-init\"]' \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - '$IMAGE_REPO:$release-$RECIPE' >/dev/null"
    remove_rootfs "$rootfs"
}

cmd_build() {
    local release
    command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install debootstrap"
    mkdir -p "$TESTBED_DIR"
    for release in "${RELEASES[@]}"; do
        if docker image inspect "$IMAGE_REPO:$release-$RECIPE" >/dev/null 2>&1; then
            say "$IMAGE_REPO:$release-$RECIPE exists, skipped"
            continue
        fi
        timed "$release build" build_release "$release"
    done
    # Images of older recipes are of no use: removed unless a host still runs one.
    docker image ls "$IMAGE_REPO" --format '{{.Repository}}:{{.Tag}}' | grep -v -- "-$RECIPE\$" \
        | xargs -r docker image rm >/dev/null 2>&1 || true
}

host_address() {
    docker inspect -f "{{(index .NetworkSettings.Networks \"$NETWORK\").IPAddress}}" "$1"
}

ssh_host() {
    local address="$1"
    shift
    # shellcheck disable=SC2086  # SSH_SHARING is a list of options
    ssh -i "$KEY" -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR $SSH_SHARING "deploy@$address" "$@"
}

# The shared connections end (their hosts go, or are new ones).
close_connections() {
    local control
    for control in "$CONTROL_DIR"/*; do
        [ -S "$control" ] || continue
        ssh -o ControlPath="$control" -O exit privreg-testbed >/dev/null 2>&1 || true
    done
    rm -rf "$CONTROL_DIR"
}

start_host() {
    local name="$1" release="$2"
    docker image inspect "$IMAGE_REPO:$release-$RECIPE" >/dev/null 2>&1 \
        || die "no image $IMAGE_REPO:$release-$RECIPE: run testbed.sh build"
    if docker container inspect "$name" >/dev/null 2>&1; then
        say "$name exists, kept"
        return
    fi
    # --cgroupns host and the cgroup tree: the host's dockerd runs its containers
    # in cgroups (v1 here); /var/lib/docker on a volume, as overlay2 can't sit on overlay.
    # /proc/sys is read-only in a container: dockerd 26 (trixie) then fails to
    # start a container on a bridge network, as it can't turn IPv6 off on its
    # interface, unless this variable lets it go on (20.10 does not try).
    docker run -d --name "$name" --hostname "$name" --network "$NETWORK" \
        --cap-add ALL --cap-drop SYS_RESOURCE \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
        -v "$name-docker:/var/lib/docker" \
        -e DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1 \
        -v "$KEY.pub:/etc/privreg-testbed/authorized_keys:ro" \
        --label privreg.testbed=1 \
        "$IMAGE_REPO:$release-$RECIPE" >/dev/null
}

# Waits until deploy gets in over ssh and sudo reaches the host's own dockerd.
wait_host() {
    local name="$1" address deadline=$((SECONDS + WAIT_SECONDS))
    address="$(host_address "$name")"
    until ssh_host "$address" sudo -n docker info >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            docker exec "$name" tail -n 20 /var/log/dockerd.log >&2 || true
            die "$name ($address): no ssh or no dockerd after ${WAIT_SECONDS}s"
        fi
        sleep 1
    done
}

write_inventory() {
    local entry name
    {
        echo "# Written by scripts/testbed.sh up: the test bed's hosts."
        echo "all:"
        echo "  vars:"
        echo "    ansible_user: deploy"
        echo "    ansible_become: true"
        echo "    ansible_python_interpreter: /usr/bin/python3"
        echo "    ansible_ssh_private_key_file: $KEY"
        # Every module in one ssh session (the hosts' sudo has no requiretty),
        # over the connection each host shares (SSH_SHARING).
        echo "    ansible_pipelining: true"
        echo "    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null $SSH_SHARING"
        echo "    testbed_controller_address: $GATEWAY"
        echo "  hosts:"
        for entry in "${HOSTS[@]}"; do
            name="${entry%%:*}"
            echo "    $name:"
            echo "      ansible_host: $(host_address "$name")"
            echo "      testbed_release: ${entry#*:}"
        done
    } >"$INVENTORY.new"
    mv "$INVENTORY.new" "$INVENTORY"
}

# build-images.sh's chatter is not the test bed's.
save_images() {
    bash "$PRIVREG_ROOT/scripts/build-images.sh" --save "$TESTBED_DIR/images" >/dev/null
}

cmd_up() {
    local entry start=$SECONDS
    mkdir -p "$TESTBED_DIR"
    [ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -C privreg-testbed -f "$KEY"
    # Left by hosts of an earlier `up` that were removed without `down`.
    docker container inspect "${HOSTS[0]%%:*}" >/dev/null 2>&1 || close_connections
    mkdir -p "$CONTROL_DIR"
    docker network inspect "$NETWORK" >/dev/null 2>&1 \
        || docker network create --subnet "$SUBNET" --gateway "$GATEWAY" --label privreg.testbed=1 "$NETWORK" >/dev/null
    for entry in "${HOSTS[@]}"; do start_host "${entry%%:*}" "${entry#*:}"; done
    for entry in "${HOSTS[@]}"; do timed "${entry%%:*} answers" wait_host "${entry%%:*}"; done
    write_inventory
    timed "image archives" save_images
    say "up in $((SECONDS - start))s; inventory: $INVENTORY"
}

cmd_down() {
    local entry name
    for entry in "${HOSTS[@]}"; do
        name="${entry%%:*}"
        docker rm -f "$name" >/dev/null 2>&1 || true
        docker volume rm "$name-docker" >/dev/null 2>&1 || true
    done
    docker network rm "$NETWORK" >/dev/null 2>&1 || true
    close_connections
    rm -f "$INVENTORY"
    say "down"
}

cmd_status() {
    local entry
    [ -f "$INVENTORY" ] || die "no inventory: run testbed.sh up"
    for entry in "${HOSTS[@]}"; do
        ssh_host "$(host_address "${entry%%:*}")" sudo -n docker info >/dev/null 2>&1 \
            || die "${entry%%:*} does not answer"
    done
    cat "$INVENTORY"
}

# The images are tagged <release>-<recipe>, the recipe being the start of the
# sha256 of what makes an image (packages, user, init, build steps): a change
# to it builds new images instead of reusing old ones; a change elsewhere in
# this script does not.
RECIPE="$({ declare -f packages_of write_init debootstrap_release build_release; echo "$PACKAGES"; } \
    | sha256sum | cut -c1-12)"

case "${1:-}" in
    build) cmd_build ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    -h|--help|"") sed -n '2,/^[^#]/ s/^# \{0,1\}//p' "$0"; [ -n "${1:-}" ] ;;
    *) die "unknown command $1 (build, up, down, status)" ;;
esac
