"""Which registry release runs, and changing it (native topology, filesystem storage, the real engine):
the roles probe the image's binary and report it; the debug listener stays inside the container; another
image re-creates the container on the same data, accounts, certificate and secret; registry_image_pull
never fails on an absent image with nothing changed; registry_upgrade_check reads a storage the registry
wrote. Registry 3 is not packaged by Debian: a 3.x image was checked by hand (docs/docsite/rst/upgrades.rst).

The deployment is the session's shared native one (site_deployment.SharedSites): a test that switches its
image puts the default configuration back before it ends."""

import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import time

import pytest
from local_engine import REGISTRY_IMAGE, docker, needs_engine_and_images, unused_port
from site_deployment import restore, worker_id

pytestmark = [*needs_engine_and_images, pytest.mark.slow, pytest.mark.xdist_group("shared-native")]


@pytest.fixture(scope="module")
def site(shared_sites):
    """The shared native deployment; its first converge's output is ``converge_output``."""
    return shared_sites.get("native")


@pytest.fixture(scope="module")
def pushed(site, tmp_path_factory):
    """An image pushed as alice with the docker CLI; (ref, image id, docker env)."""
    workdir = tmp_path_factory.mktemp("client")
    env = dict(os.environ, DOCKER_CONFIG=str(workdir / "docker-config"))
    endpoint = "localhost:%d" % site.port
    (workdir / "layer").write_bytes(os.urandom(300 * 1024))
    (workdir / "Dockerfile").write_text("FROM scratch\nCOPY layer /layer\n")
    ref = "%s/release/app:%s" % (endpoint, secrets.token_hex(3))
    for args, stdin in (
        (["build", "-q", "-t", ref, str(workdir)], None),
        (["login", endpoint, "--username", "alice", "--password-stdin"], site.passwords[0]),
        (["push", ref], None),
    ):
        done = subprocess.run(["docker", *args], input=stdin, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    image_id = docker("image", "inspect", "-f", "{{.Id}}", ref).stdout.strip()
    yield ref, image_id, env
    subprocess.run(["docker", "logout", endpoint], env=env, capture_output=True, check=False)
    docker("rmi", ref)


def changed_tasks(output):
    """The tasks of a playbook run that reported a change."""
    return re.findall(r"TASK \[([^\]]+)\][^\n]*\n(?:[^\n]+\n)*?changed:", output)


def inspect(name):
    return json.loads(docker("inspect", name).stdout)[0]


def test_the_release_is_probed_reported_and_labelled(site):
    assert "%s is distribution 2.8.2 (major 2)" % REGISTRY_IMAGE in site.converge_output
    registry = inspect(site.containers[0])
    assert registry["Config"]["Labels"]["org.privreg.registry.major"] == "2"
    # 3.x only: a 2.x registry gets nothing it does not read
    assert not [entry for entry in registry["Config"]["Env"] if entry.startswith("OTEL_")]
    # no probe container is left behind
    assert docker("container", "inspect", site.containers[0] + "-release-probe").returncode != 0


def test_the_debug_listener_is_neither_published_nor_reachable(site):
    registry = inspect(site.containers[0])
    assert "REGISTRY_HTTP_DEBUG_ADDR=127.0.0.1:5001" in registry["Config"]["Env"]
    published = registry["HostConfig"]["PortBindings"] or {}
    assert list(published) == ["5000/tcp"], published
    assert list(registry["NetworkSettings"]["Ports"] or {}) == ["5000/tcp"]
    # the container's address answers on the registry's port, not on the debug port
    address = next(iter(registry["NetworkSettings"]["Networks"].values()))["IPAddress"]
    with socket.create_connection((address, 5000), timeout=5):
        pass
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, 5001), timeout=5).close()
    # yet it serves the health check inside the container
    assert (
        docker("exec", site.containers[0], "wget", "-q", "-O", "-", "http://127.0.0.1:5001/debug/health").returncode
        == 0
    )


def test_an_absent_image_that_must_not_be_pulled_fails_with_nothing_changed(site):
    before = inspect(site.containers[0])
    rc, _changed, failed, output = site.run(
        "-e", "registry_image=privreg-test/absent:1", "-e", "registry_image_pull=never"
    )
    assert rc != 0 and failed == 1
    assert "privreg-test/absent:1 is not on localhost and registry_image_pull is never" in output
    after = inspect(site.containers[0])
    assert (after["Id"], after["State"]["StartedAt"]) == (before["Id"], before["State"]["StartedAt"])


def store_schema1_manifest(storage_root, repository, tag):
    """A schema-1 manifest as registry 2.x kept those it accepted: blob, revision link, tag link."""
    content = json.dumps(
        {"schemaVersion": 1, "name": repository, "tag": tag, "architecture": "amd64", "fsLayers": [], "history": []}
    ).encode()
    hex_digest = hashlib.sha256(content).hexdigest()
    blob = os.path.join(storage_root, "blobs", "sha256", hex_digest[:2], hex_digest)
    os.makedirs(blob)
    with open(os.path.join(blob, "data"), "wb") as data:
        data.write(content)
    manifests = os.path.join(storage_root, "repositories", repository, "_manifests")
    for folder in ("revisions/sha256/" + hex_digest, "tags/%s/current" % tag):
        os.makedirs(os.path.join(manifests, folder))
        with open(os.path.join(manifests, folder, "link"), "w") as link:
            link.write("sha256:" + hex_digest)
    return "sha256:" + hex_digest


def test_the_upgrade_check_reads_what_the_registry_wrote(site, pushed, ansible_module, tmp_path):
    storage_root = os.path.join(site.base_dir, "data", "docker", "registry", "v2")
    args = {"storage_root": storage_root, "running_major": 2, "wanted_major": 3}
    # the registry's own schema-2 manifests pass
    run = ansible_module("privreg.registry.registry_upgrade_check", args)
    assert run.rc == 0, run.stdout
    assert (run.result["scanned"], run.result["schema1_manifests"]) == (True, [])
    # a copy of that storage with a schema-1 manifest left from an old client is refused, listing it
    copy = tmp_path / "v2"
    subprocess.run(["cp", "-a", storage_root, str(copy)], check=True)
    digest = store_schema1_manifest(str(copy), "legacy/tool", "v1")
    run = ansible_module("privreg.registry.registry_upgrade_check", {**args, "storage_root": str(copy)})
    assert run.rc != 0
    assert run.result["schema1_manifests"] == [{"repository": "legacy/tool", "digest": digest, "tags": ["v1"]}]
    assert "legacy/tool@%s (tags: v1)" % digest in run.result["msg"]
    # nothing is read where no switch into 3.x happens
    run = ansible_module(
        "privreg.registry.registry_upgrade_check", {**args, "storage_root": str(copy), "running_major": 3}
    )
    assert run.rc == 0 and run.result["scanned"] is False


@pytest.fixture
def image_source(tmp_path):
    """A plain registry on 127.0.0.1 to pull the registry's image from (the engine pulls plain HTTP from
    loopback): the tag ``<source>/privreg/registry:moving``, pushed there from a build of its own."""
    port = unused_port()
    name = "privreg-test-release-source-%s" % worker_id()
    docker("rm", "-f", name)
    started = docker("run", "-d", "--name", name, "-p", "127.0.0.1:%d:5000" % port, REGISTRY_IMAGE)
    assert started.returncode == 0, started.stderr
    tag = "127.0.0.1:%d/privreg/registry:moving" % port

    def publish(label, local=None):
        """A new image behind the tag, pushed; on the engine the tag then names ``local`` (an image id: what
        the host pulled before) or nothing. Returns the new image's id."""
        (tmp_path / "Dockerfile").write_text("FROM %s\nLABEL org.example.build=%s\n" % (REGISTRY_IMAGE, label))
        assert docker("build", "-q", "-t", tag, str(tmp_path)).returncode == 0
        image_id = docker("image", "inspect", "-f", "{{.Id}}", tag).stdout.strip()
        for _attempt in range(90):  # until the source registry answers (it may still be starting)
            if docker("push", tag).returncode == 0:
                break
            time.sleep(1)
        else:
            raise AssertionError("the source registry took no push")
        docker("rmi", tag)
        if local:
            assert docker("tag", local, tag).returncode == 0
        return image_id

    yield tag, publish
    docker("rm", "-f", "-v", name)
    docker("rmi", tag)


def test_another_image_behind_the_tag_recreates_the_container_on_the_same_data_pulled_as_registry_image_pull_says(
    site, pushed, image_source
):
    """Another image re-creates the container on the same data, accounts, certificate and secret;
    registry_image_pull missing never asks for a present tag again, always gets the new image behind it."""
    tag, publish = image_source
    try:
        switched_to_the_tag_and_pulled_or_not(site, pushed, tag, publish)
    finally:
        restore(site)


def switched_to_the_tag_and_pulled_or_not(site, pushed, tag, publish):
    ref, image_id, env = pushed
    before = inspect(site.containers[0])
    kept = {
        path: hashlib.sha256(open(os.path.join(site.base_dir, path), "rb").read()).hexdigest()
        for path in ("config/config.yml", "certs/registry.crt", "auth/htpasswd", "http_secret")
    }
    first = publish("first")
    changed, output = site.play("-e", "registry_image=%s" % tag, "-e", "registry_image_pull=missing")
    assert changed > 0
    assert "%s is distribution 2.8.2 (major 2); the running registry container has 2.8.2" % tag in output
    after = inspect(site.containers[0])
    assert after["Id"] != before["Id"] and after["Config"]["Image"] == tag and after["Image"] == first
    assert kept == {
        path: hashlib.sha256(open(os.path.join(site.base_dir, path), "rb").read()).hexdigest() for path in kept
    }
    # the image pushed before pulls back, with the same login
    docker("rmi", ref)
    done = subprocess.run(["docker", "pull", ref], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert docker("image", "inspect", "-f", "{{.Id}}", ref).stdout.strip() == image_id

    second = publish("second", local=first)
    # missing: a present tag is never asked for again, and the re-run on the other image changes nothing
    changed, output = site.play("-e", "registry_image=%s" % tag, "-e", "registry_image_pull=missing")
    assert changed == 0 and inspect(site.containers[0])["Image"] == first, changed_tasks(output)
    # always: the run asks the source, gets the new image, re-creates the container on it
    changed, output = site.play("-e", "registry_image=%s" % tag, "-e", "registry_image_pull=always")
    assert changed > 0 and inspect(site.containers[0])["Image"] == second
    assert "the running registry container has 2.8.2" in output
    changed, output = site.play("-e", "registry_image=%s" % tag, "-e", "registry_image_pull=always")
    assert changed == 0, changed_tasks(output)
