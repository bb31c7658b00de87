"""What the nginx_proxy and custom_port scenarios add to scenario.py.

nginx_proxy's tests/test_proxy_clients.py checks the proxy; custom_port's
tests/test_custom_port_clients.py checks only what differs there (the port, TLS
to the registry), with the same helpers (running_config, registry_env,
nginx_listening_ports). Their conftest.py files bring these fixtures and the
shared ones.
"""

import pytest

# The role's config path inside the nginx container (roles/registry_nginx_proxy/vars/main.yml).
NGINX_CONF = "/etc/nginx/registry/nginx.conf"
# The port a test's own nginx (run with the live config, in a container network of its own) listens on.
NGINX_PORT = 8443


# nginx reaches the registry on its unix socket, in this volume (roles/_common).
SOCKET_DIR = "/run/registry"


def nginx_listening_ports(host, nginx):
    """The TCP ports nginx's processes listen on (it shares the host's network: ss, filtered by its pids)."""
    pids = set(host.check_output("docker top %s -eo pid", nginx.name).split()[1:])
    ports = set()
    for line in host.check_output("ss -Hltnp").splitlines():
        if any(f"pid={pid}," in line for pid in pids):
            ports.add(int(line.split()[3].rsplit(":", 1)[1]))
    return sorted(ports)


def running_config(host, conf, nginx_gid):
    """The config nginx runs, as a set of lines with single spaces; asserts it is the live file.

    Read from nginx's config path in the container as nginx's user (the container's root may not
    enter nginx's folders; `nginx -T` would try to bind the port, which only the running master may).
    """
    dumped = host.run(
        "docker exec -u 101:%s %s cat %s", str(nginx_gid), conf["registry_nginx_container_name"], NGINX_CONF
    )
    assert dumped.rc == 0, dumped.stderr
    assert host.file(f"{conf['registry_base_dir']}/nginx/nginx.conf").content_string == dumped.stdout
    return {" ".join(line.split()) for line in dumped.stdout.splitlines()}


def upstream_tls_directives(conf):
    """What nginx's config says when it talks TLS to the registry and verifies it (registry_upstream_tls)."""
    return {
        *routed_to_registry(conf),
        "proxy_ssl_verify on;",
        "proxy_ssl_trusted_certificate /etc/nginx/certs/ca.crt;",
        f"proxy_ssl_name {conf['registry_host']};",
    }


def registry_env(registry):
    """The registry container's environment as a dict."""
    return dict(item.split("=", 1) for item in registry.inspect()["Config"]["Env"])


def socket_volume(conf):
    return conf["registry_container_name"] + "-socket"


def upstream_url(conf):
    """nginx's proxy_pass target: the `registry` upstream (the socket), over TLS when registry_upstream_tls."""
    scheme = "https" if conf.get("registry_upstream_tls", False) else "http"
    return f"{scheme}://registry"


def routed_to_registry(conf):
    """What nginx's config says to send a client's request to the registry: proxy_pass names the route's
    choice (templates/nginx/route.j2), which is the registry where no feature refuses the request."""
    return {"proxy_pass $registry_upstream;", f'"" {upstream_url(conf)};'}


@pytest.fixture(scope="module")
def nginx_gid(host, conf):
    """The gid of the group the role created for nginx (registry_nginx_group)."""
    return host.group(conf.get("registry_nginx_group", "privreg-nginx")).gid


@pytest.fixture(scope="module")
def nginx(host, conf):
    return host.docker(conf["registry_nginx_container_name"])


@pytest.fixture(scope="module")
def registry(host, conf):
    return host.docker(conf["registry_container_name"])


def nginx_reloads(host, name):
    """How often the nginx master was told to re-read its config since the container started."""
    return host.run("docker logs %s 2>&1", name).stdout.count("signal 1 (SIGHUP) received")
