"""What the nginx_proxy and custom_port scenarios add to scenario.py.

Both scenarios run nginx_proxy's test_proxy_clients.py (custom_port through
Molecule's ``additional_files_or_dirs``); their conftest.py files bring these
fixtures and the shared ones.
"""

import pytest

# The role's paths inside the nginx container (roles/registry_nginx_proxy/vars/main.yml).
NGINX_CONF = "/etc/nginx/registry/nginx.conf"


def upstream_url(conf):
    """nginx's proxy_pass target: the registry container, over TLS when registry_upstream_tls."""
    scheme = "https" if conf.get("registry_upstream_tls", False) else "http"
    return f"{scheme}://{conf['registry_container_name']}:5000"


@pytest.fixture(scope="module")
def nginx(host, conf):
    return host.docker(conf["registry_nginx_container_name"])


@pytest.fixture(scope="module")
def registry(host, conf):
    return host.docker(conf["registry_container_name"])


def nginx_reloads(host, name):
    """How often the nginx master was told to re-read its config since the container started."""
    return host.run("docker logs %s 2>&1", name).stdout.count("signal 1 (SIGHUP) received")
