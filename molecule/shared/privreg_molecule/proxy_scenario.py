"""What the nginx_proxy and custom_port scenarios add to scenario.py.

Both scenarios run nginx_proxy's test_proxy_clients.py (custom_port through
Molecule's ``additional_files_or_dirs``); their conftest.py files bring these
fixtures and the shared ones.
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


def socket_volume(conf):
    return conf["registry_container_name"] + "-socket"


def upstream_url(conf):
    """nginx's proxy_pass target: the `registry` upstream (the socket), over TLS when registry_upstream_tls."""
    scheme = "https" if conf.get("registry_upstream_tls", False) else "http"
    return f"{scheme}://registry"


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
