"""playbooks/gc.yml and registry_read_only on a real deployment (nginx_proxy, filesystem storage, deletes
allowed), with the docker CLI: a collection frees the unique layers of a deleted tag and keeps every layer a
live tag shares, while a download in progress goes on; a push while read-only fails with a message the client
prints; after the collection the registry refuses a manifest whose blob was collected, instead of accepting a
broken image from a stale cache."""

import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import ssl
import subprocess
import threading
import time

import pytest
from local_engine import docker, needs_engine_and_images
from site_deployment import ROOT, Site

pytestmark = [*needs_engine_and_images, pytest.mark.slow]

GC = os.path.join(ROOT, "playbooks", "gc.yml")
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
# The download that runs through the collection: read slowly enough to last
# longer than gc.yml on a busy machine, fast enough that nginx never times out.
SLOW_BLOB_BYTES = 48 * 1024 * 1024
SLOW_CHUNK = 32 * 1024
SLOW_PAUSE = 0.25


@pytest.fixture(scope="module")
def site(tmp_path_factory, ansible_environment):
    deployment = Site(
        "nginx_proxy",
        str(tmp_path_factory.mktemp("gc")),
        ansible_environment,
        name="gc",
        extra_vars={"registry_storage_delete": True},
    )
    deployment.remove()
    deployment.play()
    yield deployment
    deployment.remove()


class Client:
    """The docker CLI with a config of its own, logged in as alice; and plain HTTPS for what the CLI hides."""

    def __init__(self, site, workdir):
        self.site = site
        self.endpoint = "localhost:%d" % site.port
        self.workdir = workdir
        self.env = dict(os.environ, DOCKER_CONFIG=str(workdir / "docker-config"))
        self.cli("login", self.endpoint, "--username", "alice", "--password-stdin", stdin=site.passwords[0])
        self.tls = ssl.create_default_context(cafile=os.path.join(site.base_dir, "certs", "ca.crt"))

    def run(self, *args, stdin=None):
        return subprocess.run(["docker", *args], input=stdin, env=self.env, capture_output=True, text=True, check=False)

    def cli(self, *args, stdin=None):
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def build(self, name, layers):
        """An image of the given layers ({file name: bytes}), tagged <endpoint>/<name>."""
        context = self.workdir / ("context-" + secrets.token_hex(4))
        context.mkdir()
        for file_name, content in layers.items():
            (context / file_name).write_bytes(content)
        (context / "Dockerfile").write_text("FROM scratch\n" + "".join("COPY %s /%s\n" % (f, f) for f in layers))
        ref = "%s/%s" % (self.endpoint, name)
        self.cli("build", "-q", "-t", ref, str(context))
        return ref

    def request(self, method, path, body=None, headers=None):
        connection = http.client.HTTPSConnection("localhost", self.site.port, context=self.tls, timeout=60)
        credentials = "alice:%s" % self.site.passwords[0]
        authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
        connection.request(method, path, body=body, headers={"Authorization": authorization, **(headers or {})})
        return connection, connection.getresponse()

    def manifest(self, repository, reference):
        connection, response = self.request(
            "GET", "/v2/%s/manifests/%s" % (repository, reference), headers={"Accept": MANIFEST_V2}
        )
        body = response.read()
        connection.close()
        assert response.status == 200, body
        return response.getheader("Docker-Content-Digest"), body


def blob_file(site, digest):
    hex_digest = digest.split(":", 1)[1]
    return os.path.join(
        site.base_dir, "data", "docker", "registry", "v2", "blobs", "sha256", hex_digest[:2], hex_digest, "data"
    )


@pytest.fixture(scope="module")
def client(site, tmp_path_factory):
    client = Client(site, tmp_path_factory.mktemp("client"))
    yield client
    client.run("logout", client.endpoint)


@pytest.fixture(scope="module")
def images(client):
    """Two tags sharing a base layer, each with a layer of its own, the first deleted (its manifest, by
    digest); and a large image to download slowly."""
    base = os.urandom(1024 * 1024)
    refs = {
        "old": client.build("gc/app:old", {"base": base, "own": os.urandom(2 * 1024 * 1024)}),
        "live": client.build("gc/app:live", {"base": base, "own": os.urandom(512 * 1024)}),
        "large": client.build("gc/large:1", {"big": os.urandom(SLOW_BLOB_BYTES)}),
    }
    for ref in refs.values():
        client.cli("push", ref)
    layers = {}
    for key, tag in (("old", "old"), ("live", "live")):
        digest, body = client.manifest("gc/app", tag)
        manifest = json.loads(body)
        layers[key] = {
            "manifest_digest": digest,
            "manifest": body,
            "config": manifest["config"]["digest"],
            "layers": [layer["digest"] for layer in manifest["layers"]],
        }
    _digest, body = client.manifest("gc/large", "1")
    layers["large"] = json.loads(body)["layers"][0]["digest"]
    connection, response = client.request("DELETE", "/v2/gc/app/manifests/%s" % layers["old"]["manifest_digest"])
    response.read()
    connection.close()
    assert response.status == 202
    yield refs, layers
    for ref in refs.values():
        client.run("rmi", ref)


class SlowDownload(threading.Thread):
    """A blob download as a pulling client makes it, read a little at a time."""

    def __init__(self, client, repository, digest):
        super().__init__(daemon=True)
        self.client, self.repository, self.digest = client, repository, digest
        self.started_reading = threading.Event()
        self.hurry = threading.Event()
        self.result = None

    def run(self):
        connection, response = self.client.request("GET", "/v2/%s/blobs/%s" % (self.repository, self.digest))
        sha = hashlib.sha256()
        try:
            while True:
                chunk = response.read(SLOW_CHUNK)
                if not chunk:
                    break
                sha.update(chunk)
                self.started_reading.set()
                if not self.hurry.is_set():
                    time.sleep(SLOW_PAUSE)
            self.result = (response.status, "sha256:" + sha.hexdigest(), None)
        except Exception as error:  # the test reports it
            self.result = (response.status, None, repr(error))
        finally:
            connection.close()


def test_a_dry_run_reports_and_changes_nothing(site, client, images):
    _refs, layers = images
    changed, output = site.play("-e", "registry_gc_dry_run=true", playbook=GC)
    assert changed == 0
    report = re.search(
        r"Dry run on localhost: (\d+) blobs in use; (\d+) blobs and 0 manifests to delete, (\d+) bytes", output
    )
    assert report, output[-4000:]
    # the old tag's own layer, its config and its manifest
    assert int(report.group(2)) == 3
    assert int(report.group(3)) >= 2 * 1024 * 1024
    own_layer = layers["old"]["layers"][1]
    assert os.path.exists(blob_file(site, own_layer))


def test_gc_frees_the_deleted_tags_own_layers_keeps_shared_ones_while_a_download_goes_on(site, client, images):
    refs, layers = images
    old_only = [layers["old"]["layers"][1], layers["old"]["config"], layers["old"]["manifest_digest"]]
    kept = layers["live"]["layers"] + [layers["live"]["config"], layers["live"]["manifest_digest"], layers["large"]]
    assert layers["old"]["layers"][0] == layers["live"]["layers"][0], "the base layer is shared"
    old_bytes = sum(os.path.getsize(blob_file(site, digest)) for digest in old_only)

    download = SlowDownload(client, "gc/large", layers["large"])
    download.start()
    assert download.started_reading.wait(30)
    _changed, output = site.play(playbook=GC)
    # the download was still running when the collection and the restore had finished
    still_running = download.is_alive()
    download.hurry.set()
    download.join(120)
    assert still_running, "the download ended before gc.yml did: make it slower"
    assert download.result == (200, layers["large"], None)

    freed = re.search(r"Collected on localhost: 3 blobs and 0 manifests deleted, (\d+) bytes freed", output)
    assert freed, output[-4000:]
    assert int(freed.group(1)) >= old_bytes
    assert [digest for digest in old_only if os.path.exists(blob_file(site, digest))] == []
    assert [digest for digest in kept if not os.path.exists(blob_file(site, digest))] == []
    # every live image still pulls, read-write again
    client.cli("rmi", refs["live"], refs["large"])
    client.cli("pull", refs["live"])
    client.cli("pull", refs["large"])
    inspect = json.loads(docker("inspect", site.containers[0]).stdout)[0]
    assert "maintenance" not in open(os.path.join(site.base_dir, "config", "config.yml")).read()
    assert inspect["State"]["Running"]


def test_after_gc_a_manifest_whose_blob_was_collected_is_refused(site, client, images):
    """The in-memory blob-descriptor cache started empty with the restored registry: it does not
    vouch for a collected blob (distribution #1803)."""
    _refs, layers = images
    connection, response = client.request(
        "PUT", "/v2/gc/app/manifests/old", body=layers["old"]["manifest"], headers={"Content-Type": MANIFEST_V2}
    )
    body = response.read().decode()
    connection.close()
    assert response.status == 400, body
    assert json.loads(body)["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN", body


def test_a_push_while_read_only_fails_with_a_message_the_client_prints(site, client, images):
    refs, _layers = images
    site.play("-e", "registry_read_only=true")
    try:
        ref = client.build("gc/new:1", {"layer": os.urandom(64 * 1024)})
        refused = client.run("push", ref)
        assert refused.returncode != 0
        assert "denied: the registry is read-only for maintenance" in refused.stdout + refused.stderr
        client.cli("rmi", refs["live"])
        client.cli("pull", refs["live"])
    finally:
        site.play()
    client.cli("push", ref)
