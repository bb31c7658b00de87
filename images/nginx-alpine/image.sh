# privreg/nginx:1.22-alpine: the same nginx and njs module as
# privreg/nginx:1.22-debian (images/nginx/image.sh), laid out like the upstream
# alpine image nginx:<version>-alpine: busybox for the whole userland (sh is
# busybox's ash, wget is busybox's), no util-linux, no bash, no curl. Its C
# library stays Debian's glibc (alpine's is musl). Sourced by
# scripts/build-images.sh, which provides ROOTFS, HERE and the add_* helpers.
# The variables below are read by scripts/build-images.sh.
# shellcheck shell=bash disable=SC2034
# shellcheck source=images/nginx/image.sh
source "$PRIVREG_ROOT/images/nginx/image.sh"
IMAGE=privreg/nginx:1.22-alpine
ARCHIVE=nginx-alpine.tar
USERLAND=busybox
USERLAND_PACKAGES=()
INPUT_DIRS=("$NGINX_FILES")
PROGRAMS=(/usr/sbin/nginx:/usr/sbin/nginx "$JS_MODULE:$JS_MODULE")
