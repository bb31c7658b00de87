# privreg/nginx:1.22-debian: nginx from Debian's nginx package, laid out like
# the Debian-based upstream image nginx:<version> (user nginx 101:101, conf.d,
# logs to the container's stdout and stderr, the njs module in
# /etc/nginx/modules) with its userland: dash as sh, bash, coreutils, util-linux's
# setpriv, curl; no busybox. images/nginx-alpine/image.sh makes the alpine
# layout from the same parts. Sourced by scripts/build-images.sh, which provides
# ROOTFS, HERE and the add_* helpers.
# The variables below are read by scripts/build-images.sh.
# shellcheck shell=bash disable=SC2034
IMAGE=privreg/nginx:1.22-debian
ARCHIVE=nginx.tar
USERLAND=debian
USERLAND_PACKAGES=(dash bash coreutils findutils grep sed tar)
# This folder's files (nginx.conf, default.conf, 50x.html), for both layouts.
NGINX_FILES="$PRIVREG_ROOT/images/nginx"
# host path -> image path; ldd brings libcrypt (libxcrypt: bcrypt auth_basic works).
# The njs module (libnginx-mod-http-js, built for this nginx) sits where the
# upstream image has it: /etc/nginx/modules -> /usr/lib/nginx/modules.
JS_MODULE=/usr/lib/nginx/modules/ngx_http_js_module.so
# util-linux's setpriv and curl, as in nginx:<version> (the role uses neither;
# its health check tries curl there).
PROGRAMS=(/usr/sbin/nginx:/usr/sbin/nginx "$JS_MODULE:$JS_MODULE" /usr/bin/setpriv:/usr/bin/setpriv
    /usr/bin/curl:/usr/bin/curl)
EXPECT_VERSION=("/usr/sbin/nginx -v" "nginx/1.22.")
# run in the new image before it gets the tag
SMOKE=(nginx -t)
HOST_FILES=(
    /etc/nginx/mime.types:/etc/nginx/mime.types
    /usr/share/nginx/html/index.html:/usr/share/nginx/html/index.html
)
CHANGES=(
    'EXPOSE 80'
    'STOPSIGNAL SIGQUIT'
    'CMD ["nginx", "-g", "daemon off;"]'
)
NGINX_UID=101

populate() {
    add_account nginx "$NGINX_UID" /nonexistent /bin/false "nginx user"
    add_file "$NGINX_FILES/nginx.conf" /etc/nginx/nginx.conf 0644
    add_file "$NGINX_FILES/default.conf" /etc/nginx/conf.d/default.conf 0644
    add_file "$NGINX_FILES/50x.html" /usr/share/nginx/html/50x.html 0644
    add_dir /usr/lib/nginx/modules 0755
    ln -s /usr/lib/nginx/modules "$ROOTFS/etc/nginx/modules"
    # Logs go to the container's output, as in the upstream image.
    add_dir /var/log/nginx 0755
    ln -s /dev/stdout "$ROOTFS/var/log/nginx/access.log"
    ln -s /dev/stderr "$ROOTFS/var/log/nginx/error.log"
    # Every path the Debian build compiled in (nginx -V), and upstream's cache folder.
    local dir
    for dir in /var/lib/nginx/body /var/lib/nginx/fastcgi /var/lib/nginx/proxy \
            /var/lib/nginx/scgi /var/lib/nginx/uwsgi /var/cache/nginx; do
        add_dir "$dir" 0700 "$NGINX_UID"
    done
    add_dir /var/lib/nginx 0755
}
