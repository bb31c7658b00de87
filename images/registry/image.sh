# privreg/registry: the distribution registry from Debian's docker-registry
# package, laid out like the upstream registry:2 image. Sourced by
# scripts/build-images.sh, which provides ROOTFS, HERE and the add_* helpers.
# The variables below are read by scripts/build-images.sh.
# shellcheck shell=bash disable=SC2034
IMAGE=privreg/registry:2.8.2-debian
ARCHIVE=registry.tar
# host path -> image path
PROGRAMS=(/usr/bin/docker-registry:/bin/registry)
EXPECT_VERSION=("/usr/bin/docker-registry --version" " 2.8.2")
# run in the new image before it gets the tag
SMOKE=(registry --version)
CHANGES=(
    'VOLUME ["/var/lib/registry"]'
    'EXPOSE 5000'
    'ENTRYPOINT ["/entrypoint.sh"]'
    'CMD ["/etc/docker/registry/config.yml"]'
)

populate() {
    add_file "$HERE/config.yml" /etc/docker/registry/config.yml 0644
    add_file "$HERE/entrypoint.sh" /entrypoint.sh 0755
    add_dir /var/lib/registry 0755
}
