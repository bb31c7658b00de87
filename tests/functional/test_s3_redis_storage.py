"""Images on S3 storage with a Redis blob-descriptor cache, in both topologies:
real servers (storage_servers.py), the real registry and the docker CLI. The
secrets (S3 keys, Redis password) stay in the registry's root-only config
file: not in `docker inspect`, not in a -vvv run; bad settings fail before the
host changes."""

import json
import os
import secrets
import stat
import subprocess

import pytest
import yaml
from local_engine import docker, needs_engine_and_images
from site_client import Client
from site_deployment import ROOT, Site
from storage_servers import RedisServer, S3Server, bridge_gateway, servers_missing

pytestmark = [
    *needs_engine_and_images,
    pytest.mark.skipif(bool(servers_missing()), reason="missing %s (scripts/install-packages.sh)" % servers_missing()),
]

ROOT_DIRECTORY = "/team-registry"
REDIS_DB = 3


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("servers")
    address = bridge_gateway()
    s3 = S3Server(address, str(workdir / "moto.log"))
    redis = RedisServer(address, str(workdir))
    yield s3, redis
    s3.stop()
    redis.stop()


def storage_vars(s3, redis):
    return {
        **s3.role_vars(),
        "registry_s3_root_directory": ROOT_DIRECTORY,
        "registry_redis_addresses": [redis.address_port],
        "registry_redis_password": redis.password,
        "registry_redis_db": REDIS_DB,
        "registry_storage_delete": True,
    }


@pytest.fixture(scope="module", params=["nginx_proxy", "native"])
def site(request, servers, tmp_path_factory, ansible_environment):
    s3, redis = servers
    workdir = tmp_path_factory.mktemp(request.param)
    deployment = Site(request.param, str(workdir), ansible_environment, name="s3", extra_vars=storage_vars(s3, redis))
    deployment.remove()
    _changed, output = deployment.play()
    deployment.first_output = output
    yield deployment
    deployment.remove()


@pytest.fixture(scope="module")
def pushed(site, tmp_path_factory):
    """A two-layer image pushed with the docker CLI as alice, removed locally and pulled back."""
    workdir = tmp_path_factory.mktemp("client")
    env = dict(os.environ, DOCKER_CONFIG=str(workdir / "docker-config"))
    endpoint = "localhost:%d" % site.port
    context = workdir / "context"
    context.mkdir()
    for index in range(2):
        (context / ("layer%d" % index)).write_bytes(os.urandom(200 * 1024))
    (context / "Dockerfile").write_text("FROM scratch\nCOPY layer0 /0\nCOPY layer1 /1\n")
    ref = "%s/s3/%s:%s" % (endpoint, site.topology.replace("_", "-"), secrets.token_hex(4))

    def cli(*args, stdin=None):
        done = subprocess.run(["docker", *args], input=stdin, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    cli("build", "-q", "-t", ref, str(context))
    cli("login", endpoint, "--username", "alice", "--password-stdin", stdin=site.passwords[0])
    cli("push", ref)
    image_id = cli("image", "inspect", "-f", "{{.Id}}", ref).strip()
    cli("rmi", ref)
    cli("pull", ref)
    assert cli("image", "inspect", "-f", "{{.Id}}", ref).strip() == image_id
    yield ref
    cli("rmi", ref)
    cli("logout", endpoint)


def test_the_images_are_in_the_bucket_under_the_root_directory_not_on_the_host(site, pushed, servers):
    s3, _redis = servers
    repository = pushed.split("/", 1)[1].rsplit(":", 1)[0]
    prefix = ROOT_DIRECTORY.strip("/") + "/docker/registry/v2/"
    keys = s3.keys(prefix)
    assert any(key.startswith(prefix + "repositories/" + repository + "/_manifests/") for key in keys), keys[:20]
    assert sum(1 for key in keys if key.startswith(prefix + "blobs/") and key.endswith("/data")) >= 3
    data = os.path.join(site.base_dir, "data")
    assert not os.path.isdir(data) or not os.listdir(data), os.listdir(data)


def test_the_blob_descriptors_are_cached_in_redis(pushed, servers):
    _s3, redis = servers
    repository = pushed.split("/", 1)[1].rsplit(":", 1)[0]
    keys = redis.keys(REDIS_DB)
    assert any(key.startswith("repository::%s::blobs::sha256:" % repository) for key in keys), keys[:20]
    assert any(key.startswith("blobs::sha256:") for key in keys), keys[:20]


@pytest.fixture(scope="module")
def rerun(site, pushed):
    """A verbose re-run of the deployment once images are in it: (changed, output). Its output is
    where a secret would show, its count what a re-run changes: one converge serves both tests."""
    return site.play("-vvv")


def test_a_rerun_changes_nothing(rerun):
    changed, output = rerun
    assert changed == 0, [line for line in output.splitlines() if line.startswith("changed:")]


def test_the_secrets_are_in_the_root_only_config_file_and_nowhere_else(site, servers, rerun):
    s3, redis = servers
    config = os.path.join(site.base_dir, "config", "config.yml")
    mode = os.stat(config)
    assert (stat.S_IMODE(mode.st_mode), mode.st_uid) == (0o600, 0)
    with open(config) as stream:
        parsed = yaml.safe_load(stream)
    assert parsed["storage"]["s3"]["secretkey"] == s3.secret_key
    assert parsed["redis"]["password"] == redis.password
    inspected = docker("inspect", *site.existing_containers()).stdout
    json.loads(inspected)
    _changed, verbose = rerun
    for secret in (s3.secret_key, s3.access_key, redis.password):
        assert secret not in inspected, "a secret is in docker inspect"
        assert secret not in site.first_output + verbose, "a secret is in the playbook's output"


def test_the_registry_reaches_the_servers_and_publishes_nothing(site):
    registry = json.loads(docker("inspect", site.containers[0]).stdout)[0]
    assert registry["HostConfig"]["NetworkMode"] == "default"
    assert not registry["HostConfig"]["PortBindings"] or site.topology == "native"
    env = dict(item.split("=", 1) for item in registry["Config"]["Env"])
    if site.topology == "nginx_proxy":
        # behind nginx it still listens on its socket only, not on the bridge
        assert env["REGISTRY_HTTP_NET"] == "unix"
        assert not registry["HostConfig"]["PortBindings"]


# The checks are the shared preflight's, the same in both roles: one topology is enough.
@pytest.mark.parametrize("site", ["nginx_proxy"], indirect=True)
@pytest.mark.parametrize(
    "broken, named",
    [
        ({"registry_s3_bucket": ""}, "registry_s3_bucket"),
        ({"registry_s3_endpoint": "minio.example:9000"}, "registry_s3_endpoint"),
        ({"registry_s3_secret_key": ""}, "registry_s3_access_key"),
        ({"registry_redis_addresses": ["redis.example"]}, "registry_redis_addresses"),
        ({"registry_gc_schedule": "weekly"}, "registry_gc_schedule"),
    ],
    ids=["no bucket", "endpoint without scheme", "half credentials", "redis without port", "schedule on S3"],
)
def test_bad_settings_fail_before_anything_changes(site, pushed, broken, named, tmp_path):
    config = os.path.join(site.base_dir, "config", "config.yml")
    with open(config) as stream:
        before = stream.read()
    started = docker("inspect", "-f", "{{.State.StartedAt}}", site.containers[0]).stdout
    extra = tmp_path / "broken.json"
    extra.write_text(json.dumps(broken))
    rc, changed, failed, output = site.run("-e", "@%s" % extra)
    assert (rc != 0, failed, changed) == (True, 1, 0), output[-3000:]
    assert named in output and "Nothing was changed" in output, output[-3000:]
    with open(config) as stream:
        assert stream.read() == before
    assert docker("inspect", "-f", "{{.State.StartedAt}}", site.containers[0]).stdout == started


# Garbage collection on S3 with a Redis cache, in the native topology (test_garbage_collection.py runs it on
# disk behind nginx): the objects of a deleted tag's own layers leave the bucket, the shared ones stay, and the
# Redis cache is flushed, so the registry does not vouch for a collected blob (distribution #3743).
@pytest.mark.parametrize("site", ["native"], indirect=True)
def test_gc_deletes_the_objects_and_flushes_the_redis_cache(site, servers, tmp_path_factory):
    s3, redis = servers
    client = Client(site, tmp_path_factory.mktemp("gc-client"))
    base = os.urandom(256 * 1024)
    refs = {
        tag: client.build("s3/gc:%s" % tag, {"base": base, "own": os.urandom(128 * 1024)}) for tag in ("old", "live")
    }
    manifests = {}
    for tag, ref in refs.items():
        client.cli("push", ref)
        digest, body = client.manifest("s3/gc", tag)
        manifests[tag] = (digest, body, [layer["digest"] for layer in json.loads(body)["layers"]])
    old_digest, old_body, (shared, old_own) = manifests["old"]
    client.delete_manifest("s3/gc", old_digest)
    blobs = ROOT_DIRECTORY.strip("/") + "/docker/registry/v2/blobs/sha256/"

    def stored(digest):
        hex_digest = digest.split(":", 1)[1]
        return blobs + "%s/%s/data" % (hex_digest[:2], hex_digest) in s3.keys(blobs + hex_digest[:2])

    assert stored(old_own) and any(key.endswith("::blobs::" + old_own) for key in redis.keys(REDIS_DB))

    _changed, output = site.play(playbook=os.path.join(ROOT, "playbooks", "gc.yml"))
    assert "(bytes unknown on S3)" in output
    assert not stored(old_own) and not stored(old_digest)
    assert stored(shared) and all(stored(digest) for digest in manifests["live"][2])
    assert not [key for key in redis.keys(REDIS_DB) if old_own in key or old_digest in key]
    status, codes = client.put_manifest("s3/gc", "old", old_body)
    assert (status, set(codes)) == (400, {"MANIFEST_BLOB_UNKNOWN"})
    client.cli("rmi", refs["live"])
    client.cli("pull", refs["live"])
    for ref in refs.values():
        client.run("rmi", ref)
    client.run("logout", client.endpoint)
