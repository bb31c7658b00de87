"""What this scenario adds to nginx_proxy's client tests: a client port other than 443, and TLS
between nginx and the registry (registry_upstream_tls). Everything else about the proxy is the
same role and is tested once, in nginx_proxy's tests/test_proxy_clients.py; the checks shared
with it are privreg_molecule.proxy_scenario's.
"""

from privreg_molecule.proxy_scenario import (
    nginx_listening_ports,
    registry_env,
    running_config,
    upstream_tls_directives,
)
from privreg_molecule.scenario import push_pull_round_trip

REPOSITORY = "molecule/proxied"
LAYERS = 4
KIB_PER_LAYER = 10 * 1024  # 4 layers of 10 MiB: several tens of MB per push


def test_nginx_listens_on_the_custom_port(host, nginx, conf):
    assert conf["registry_port"] != 443
    assert nginx_listening_ports(host, nginx) == sorted([conf["registry_port"], conf["registry_nginx_health_port"]])


def test_nginx_talks_tls_to_the_registry_and_verifies_it(host, conf, nginx_gid):
    config = running_config(host, conf, nginx_gid)
    assert f"listen {conf['registry_port']} ssl;" in config
    assert upstream_tls_directives(conf) <= config, sorted(config)


def test_the_registry_serves_tls_and_knows_its_url_with_the_port(registry, endpoint, conf):
    env = registry_env(registry)
    assert env["REGISTRY_HTTP_TLS_CERTIFICATE"] and env["REGISTRY_HTTP_TLS_KEY"], env
    # Upload URLs carry the client-facing port whatever Host header nginx sends.
    assert endpoint == f"{conf['registry_host']}:{conf['registry_port']}"
    assert env["REGISTRY_HTTP_HOST"] == f"https://{endpoint}"


def test_push_pull_round_trip_through_the_custom_port(client, users):
    # Every layer goes through nginx on the custom port and TLS to the registry, then back; logged out, denied.
    push_pull_round_trip(client, "alice", users["alice"], REPOSITORY, layers=LAYERS, kib_per_layer=KIB_PER_LAYER)
