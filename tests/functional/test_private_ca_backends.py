"""S3 and Redis with certificates of a private CA (registry_backend_ca_certificates): moto's S3 server over
HTTPS, the native topology. The registry trusts the CA on top of its image's and stores in the bucket. Redis
over TLS needs registry 3.x: on Debian's 2.8 the run refuses it with the registry unchanged (2.8 has no Redis
TLS and would send plain text; registry 3.1.1 with a TLS Redis was checked by hand, docs/docsite/rst/upgrades.rst)."""

import json
import os

import pytest
from local_engine import docker, needs_engine_and_images
from site_client import Client
from site_deployment import Site
from storage_servers import RedisServer, S3Server, bridge_gateway, servers_missing

pytestmark = [
    *needs_engine_and_images,
    pytest.mark.skipif(bool(servers_missing()), reason="missing %s (scripts/install-packages.sh)" % servers_missing()),
]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(bridge_gateway(), str(tmp_path_factory.mktemp("s3-https") / "moto.log"), tls=True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def site(s3, tmp_path_factory, ansible_environment):
    deployment = Site(
        "native",
        str(tmp_path_factory.mktemp("site")),
        ansible_environment,
        name="private-ca",
        extra_vars={**s3.role_vars(), "registry_backend_ca_certificates": [s3.ca_certificate]},
    )
    deployment.remove()
    deployment.play()
    yield deployment
    deployment.remove()


def test_the_registry_stores_on_https_s3_trusting_the_private_ca(site, s3, tmp_path):
    client = Client(site, tmp_path)
    ref = client.build("private-ca/app:1", {"layer": os.urandom(256 * 1024)})
    client.cli("push", ref)
    client.cli("rmi", ref)
    client.cli("pull", ref)
    client.cli("rmi", ref)
    client.run("logout", client.endpoint)
    assert any(key.endswith("/_manifests/tags/1/current/link") for key in s3.keys("docker/registry/v2/repositories/"))
    registry = json.loads(docker("inspect", site.containers[0]).stdout)[0]
    assert "SSL_CERT_DIR=/etc/privreg-backend-ca" in registry["Config"]["Env"]
    mounts = {mount["Destination"]: mount for mount in registry["Mounts"]}
    assert mounts["/etc/privreg-backend-ca"]["RW"] is False
    with open(os.path.join(site.base_dir, "backend-ca", "bundle.crt")) as bundle, open(s3.ca_certificate) as ca:
        assert bundle.read().strip() == ca.read().strip()
    changed, _output = site.play()
    assert changed == 0


def test_redis_over_tls_on_registry_2_is_refused_with_the_registry_unchanged(site, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("redis-tls")
    redis = RedisServer(bridge_gateway(), str(workdir), tls=True)
    try:
        extra = workdir / "redis.json"
        extra.write_text(
            json.dumps(
                {
                    "registry_redis_addresses": [redis.address_port],
                    "registry_redis_password": redis.password,
                    "registry_redis_tls": True,
                    "registry_backend_ca_certificates": [redis.ca_certificate],
                }
            )
        )
        config = os.path.join(site.base_dir, "config", "config.yml")
        with open(config) as stream:
            before = stream.read()
        started = docker("inspect", "-f", "{{.State.StartedAt}}", site.containers[0]).stdout
        rc, _changed, failed, output = site.run("-e", "@%s" % extra)
        assert rc != 0 and failed == 1
        assert "registry_redis_tls needs registry 3.x" in output and "The registry was not changed" in output
        with open(config) as stream:
            assert stream.read() == before
        assert docker("inspect", "-f", "{{.State.StartedAt}}", site.containers[0]).stdout == started
    finally:
        redis.stop()
