#!/usr/bin/env bash
# Builds the local images the roles run here (no registry is reachable, so
# nothing can be pulled): each image is a rootfs made from this host's Debian
# packages, imported with `docker import`. images/<name>/image.sh says what
# goes in; this script holds what all images share.
#
# Usage: build-images.sh [--save DIR] [--force] [NAME...]
#               (NAME: registry, nginx, nginx-alpine; default all three)
#   --save DIR  also write `docker save` archives (DIR/registry.tar, DIR/nginx.tar,
#               DIR/nginx-alpine.tar) for offline-install tests.
#   --force     rebuild even when the image carries the hash of the same inputs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$(dirname "$0")/env.sh"

SAVE_DIR=""
FORCE=0
NAMES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --save) SAVE_DIR="${2:?--save needs a folder}"; shift 2 ;;
        --force) FORCE=1; shift ;;
        -h|--help) sed -n '2,/^[^#]/ s/^# \{0,1\}//p' "$0"; exit 0 ;;
        -*) echo "build-images: unknown option $1" >&2; exit 2 ;;
        *) NAMES+=("$1"); shift ;;
    esac
done
[ "${#NAMES[@]}" -gt 0 ] || NAMES=(registry nginx nginx-alpine)
INPUTS_LABEL=privreg.inputs
BUSYBOX=/bin/busybox
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { echo "build-images: $*"; }
die() { echo "build-images: $*" >&2; exit 1; }

# ---- rootfs helpers (used by images/*/image.sh) ------------------------------

# add_dir PATH MODE [UID]
add_dir() {
    mkdir -p "$ROOTFS$1"
    chmod "$2" "$ROOTFS$1"
    if [ -n "${3:-}" ]; then chown "$3:$3" "$ROOTFS$1"; fi
}

# add_file SOURCE PATH MODE
add_file() {
    mkdir -p "$(dirname "$ROOTFS$2")"
    # A program may replace a busybox applet's link: cp would write through the
    # link's absolute target, on this host's own /usr/bin/busybox.
    rm -f "$ROOTFS$2"
    cp -L "$1" "$ROOTFS$2"
    chmod "$3" "$ROOTFS$2"
}

# add_account NAME ID HOME SHELL GECOS: a user and its group with the same id.
add_account() {
    echo "$1:x:$2:$2:$5:$3:$4" >>"$ROOTFS/etc/passwd"
    echo "$1:x:$2:" >>"$ROOTFS/etc/group"
}

# Shared libraries the dynamic programs need, program by program as ldd lists them (none for
# static ones). One ldd for them all: it heads each program's list with "PROGRAM:".
libraries_of() {
    ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}' || true
}

# A library at the same path, its folder's symlinks resolved (the rootfs has
# merged /usr like Debian: /lib -> usr/lib), kept under the name ldd gave.
add_library() {
    local dir
    dir="$(readlink -f "$(dirname "$1")")"
    [ -e "$ROOTFS$dir/$(basename "$1")" ] || add_file "$1" "$dir/$(basename "$1")" 0755
}

add_program() {
    local lib
    add_file "$1" "$2" 0755
    for lib in $(libraries_of "$1"); do add_library "$lib"; done
}

# The programs of Debian packages (USERLAND_PACKAGES), as the package installed them.
userland_programs() {
    local path
    [ "${#USERLAND_PACKAGES[@]}" -gt 0 ] || return 0
    dpkg -L "${USERLAND_PACKAGES[@]}" | grep -E '^(/usr)?/s?bin/[^/]+$' | while read -r path; do
        if [ -f "$path" ] && [ ! -L "$path" ]; then echo "$path"; fi
    done
}

base_rootfs() {
    local d link
    for d in usr/bin usr/sbin usr/lib usr/lib64 etc/ssl/certs dev proc sys root var/log var/lib var/cache; do
        mkdir -p "$ROOTFS/$d"
    done
    for link in bin sbin lib lib64; do ln -s "usr/$link" "$ROOTFS/$link"; done
    add_dir /tmp 1777
    add_dir /run 0755
    add_dir /run/lock 1777
    ln -s /run "$ROOTFS/var/run"
    ln -s /run/lock "$ROOTFS/var/lock"
    chmod 0700 "$ROOTFS/root"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$ROOTFS/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOTFS/etc/group"
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$ROOTFS/etc/nsswitch.conf"
    add_file "$CA_BUNDLE" "$CA_BUNDLE" 0644
    if [ "$USERLAND" = debian ]; then
        # Debian's own userland, as in the Debian-based upstream images: dash as
        # sh, bash, coreutils and the rest of USERLAND_PACKAGES; no busybox.
        local program lib
        for program in "${USERLAND_PROGRAMS[@]}"; do add_file "$program" "$program" 0755; done
        for lib in $(libraries_of "${USERLAND_PROGRAMS[@]}" | LC_ALL=C sort -u); do add_library "$lib"; done
        ln -s dash "$ROOTFS/usr/bin/sh"
        return 0
    fi
    # busybox: sh for entrypoints, wget for health checks, and the usual tools.
    add_file "$BUSYBOX" /usr/bin/busybox 0755
    local applet
    for applet in $("$BUSYBOX" --list-full); do
        applet="/${applet#/}"
        case "$applet" in /bin/*|/sbin/*) applet="/usr$applet" ;; esac
        [ -e "$ROOTFS$applet" ] || [ -L "$ROOTFS$applet" ] || ln -s /usr/bin/busybox "$ROOTFS$applet"
    done
}

# ---- one image ----------------------------------------------------------------

# Every host file that goes into the image, then the build inputs in the repo.
input_files() {
    local entry
    echo "$PRIVREG_ROOT/scripts/build-images.sh"
    find "$HERE" "${INPUT_DIRS[@]}" -type f | LC_ALL=C sort
    if [ "$USERLAND" = busybox ]; then echo "$BUSYBOX"; fi
    echo "$CA_BUNDLE"
    for entry in "${PROGRAMS[@]}" "${HOST_FILES[@]}" "${USERLAND_PROGRAMS[@]}"; do echo "${entry%%:*}"; done
    local programs=()
    for entry in "${PROGRAMS[@]}" "${USERLAND_PROGRAMS[@]}"; do programs+=("${entry%%:*}"); done
    libraries_of "${programs[@]}"
}

# Repo files count by their path in the checkout, so every clone agrees. Each
# file once (programs share libraries), one sha256sum for them all.
inputs_hash() {
    local files hash path
    mapfile -t files < <(input_files | awk '!seen[$0]++')
    sha256sum -- "${files[@]}" | while read -r hash path; do
        echo "${path#"$PRIVREG_ROOT"/} $hash  -"
    done | sha256sum | cut -c1-64
}

build_one() {
    local name="$1"
    HERE="$PRIVREG_ROOT/images/$name"
    [ -f "$HERE/image.sh" ] || die "no image named $name (no $HERE/image.sh)"
    IMAGE="" ARCHIVE="" PROGRAMS=() HOST_FILES=() CHANGES=() EXPECT_VERSION=() SMOKE=()
    # USERLAND: busybox (the default; alpine-like) or debian (USERLAND_PACKAGES'
    # programs). INPUT_DIRS: other repo folders the image takes files from.
    USERLAND=busybox USERLAND_PACKAGES=() USERLAND_PROGRAMS=() INPUT_DIRS=()
    # shellcheck source=/dev/null
    source "$HERE/image.sh"
    case "$USERLAND" in
        busybox) ;;
        debian) mapfile -t USERLAND_PROGRAMS < <(userland_programs) ;;
        *) die "$IMAGE: unknown USERLAND $USERLAND (busybox or debian)" ;;
    esac

    local entry
    for entry in "$BUSYBOX" "$CA_BUNDLE" "${PROGRAMS[@]%%:*}" "${HOST_FILES[@]%%:*}"; do
        [ -e "$entry" ] || die "$entry is missing; run scripts/install-packages.sh"
    done
    # The tag names a version: refuse to build it from another one.
    if [ "${#EXPECT_VERSION[@]}" -eq 2 ]; then
        local version
        version="$(${EXPECT_VERSION[0]} 2>&1)" || true
        [[ "$version" == *"${EXPECT_VERSION[1]}"* ]] \
            || die "$IMAGE: '${EXPECT_VERSION[0]}' says '$version', expected '${EXPECT_VERSION[1]}'"
    fi

    local hash current
    hash="$(inputs_hash)"
    current="$(docker image inspect -f "{{ index .Config.Labels \"$INPUTS_LABEL\" }}" "$IMAGE" 2>/dev/null || true)"
    if [ "$FORCE" = 0 ] && [ "$current" = "$hash" ]; then
        say "$IMAGE is up to date"
    else
        local previous
        previous="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
        ROOTFS="$(mktemp -d "${TMPDIR:-/tmp}/privreg-rootfs.XXXXXX")"
        base_rootfs
        for entry in "${PROGRAMS[@]}"; do add_program "${entry%%:*}" "${entry#*:}"; done
        for entry in "${HOST_FILES[@]}"; do add_file "${entry%%:*}" "${entry#*:}" 0644; done
        populate

        # docker import (engine 20.10) refuses some instructions: a one-line
        # `docker build` on top of the import adds those.
        local args=(--change "LABEL $INPUTS_LABEL=$hash" --change "ENV PATH=$IMAGE_PATH"
            --message "built by scripts/build-images.sh")
        local extra="" id out
        for entry in "${CHANGES[@]}"; do
            case "$entry" in
                STOPSIGNAL*|SHELL*) extra+="$entry"$'\n' ;;
                *) args+=(--change "$entry") ;;
            esac
        done
        id="$(tar --numeric-owner -C "$ROOTFS" -cf - . | docker import "${args[@]}" -)"
        rm -rf "$ROOTFS"
        ROOTFS=""
        if [ -n "$extra" ]; then
            out="$(printf 'FROM %s\n%s' "$id" "$extra" | DOCKER_BUILDKIT=0 docker build -q - 2>&1)" \
                || die "$IMAGE: docker build of '$extra' failed: $out"
            id="$(echo "$out" | grep -o 'sha256:[0-9a-f]*' | tail -n 1)"
        fi
        # A broken image never gets the tag.
        if [ "${#SMOKE[@]}" -gt 0 ] && ! out="$(docker run --rm "$id" "${SMOKE[@]}" 2>&1)"; then
            die "$IMAGE: '${SMOKE[*]}' fails in the new image: $out"
        fi
        docker tag "$id" "$IMAGE"
        # The image it replaces, unless something still uses it.
        if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]; then
            docker rmi "$previous" >/dev/null 2>&1 || true
        fi
        say "$IMAGE built"
    fi

    if [ -n "$SAVE_DIR" ]; then
        mkdir -p "$SAVE_DIR"
        docker save -o "$SAVE_DIR/$ARCHIVE.part" "$IMAGE"
        mv "$SAVE_DIR/$ARCHIVE.part" "$SAVE_DIR/$ARCHIVE"
        say "$IMAGE saved to $SAVE_DIR/$ARCHIVE"
    fi
}

ROOTFS=""
trap '[ -z "$ROOTFS" ] || rm -rf "$ROOTFS"' EXIT
docker info >/dev/null 2>&1 || die "no Docker engine answers; run scripts/ensure-docker.sh"
for name in "${NAMES[@]}"; do build_one "$name"; done
