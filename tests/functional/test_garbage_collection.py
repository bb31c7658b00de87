"""playbooks/gc.yml and registry_read_only on a real deployment (nginx_proxy, filesystem storage, deletes
allowed), with the docker CLI: a collection frees the unique layers of a deleted tag and keeps every layer a
live tag shares, while a download in progress goes on; a push while read-only fails with a message the client
prints; after the collection the registry refuses a manifest whose blob was collected, instead of accepting a
broken image from a stale cache."""

import hashlib
import json
import os
import re
import subprocess
import threading
import time

import pytest
from local_engine import docker, needs_engine_and_images
from site_client import Client
from site_deployment import ROOT, Site

pytestmark = [*needs_engine_and_images, pytest.mark.slow]

GC = os.path.join(ROOT, "playbooks", "gc.yml")
# The download that runs through the collection: its first chunk is read before gc.yml starts, its last
# RESERVE bytes only after gc.yml has finished (the test says when), so it spans the whole collection
# however long that takes. Meanwhile it keeps reading a little at a time, so that nginx, which closes a
# connection that takes nothing for send_timeout (60 s), keeps sending: at this pace the bytes before the
# reserve last about 5 minutes, and only after them does the download stop to wait.
SLOW_BLOB_BYTES = 48 * 1024 * 1024
SLOW_CHUNK = 32 * 1024
SLOW_PAUSE = 0.25
RESERVE = 4 * 1024 * 1024


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
    client.delete_manifest("gc/app", layers["old"]["manifest_digest"])
    yield refs, layers
    for ref in refs.values():
        client.run("rmi", ref)


class SlowDownload(threading.Thread):
    """A blob download as a pulling client makes it, read a little at a time, that ends only after
    ``finish`` is set: its last RESERVE bytes wait for it."""

    def __init__(self, client, repository, digest):
        super().__init__(daemon=True)
        self.client, self.repository, self.digest = client, repository, digest
        self.started_reading = threading.Event()
        self.finish = threading.Event()
        self.result = None

    def run(self):
        connection, response = self.client.request("GET", "/v2/%s/blobs/%s" % (self.repository, self.digest))
        sha = hashlib.sha256()
        try:
            if response.length is None:
                raise AssertionError("the blob came without a Content-Length: nothing to hold back")
            while True:
                if not self.finish.is_set() and self.started_reading.is_set():
                    if response.length is not None and response.length <= RESERVE:
                        self.finish.wait(900)
                    else:
                        time.sleep(SLOW_PAUSE)
                chunk = response.read(SLOW_CHUNK)
                if not chunk:
                    break
                sha.update(chunk)
                self.started_reading.set()
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
    try:
        _changed, output = site.play(playbook=GC)
        # the download was still open when the collection and the restore had finished (it waits for
        # finish; had it failed midway, it would have ended)
        still_running = download.is_alive()
    finally:
        download.finish.set()
    download.join(120)
    assert still_running, download.result
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
    status, codes = client.put_manifest("gc/app", "old", layers["old"]["manifest"])
    assert (status, set(codes)) == (400, {"MANIFEST_BLOB_UNKNOWN"})


def test_a_push_while_read_only_fails_with_a_message_the_client_prints(site, client, images):
    """Read-only with a collection scheduled: the next test's first run, with the schedule alone, is the one
    that makes the registry read-write again (one converge less than a run of its own back to the default)."""
    refs, _layers = images
    site.play("-e", "registry_read_only=true", "-e", "registry_gc_schedule=weekly")
    # what a test builds goes into refs, whose images the fixture removes at the end
    refs["refused"] = client.build("gc/refused:1", {"layer": os.urandom(64 * 1024)})
    refused = client.run("push", refs["refused"])
    assert refused.returncode != 0
    assert "denied: the registry is read-only for maintenance" in refused.stdout + refused.stderr
    client.cli("rmi", refs["live"])
    client.cli("pull", refs["live"])


def test_a_scheduled_collection_runs_the_same_steps_on_the_host_alone(site, client, images):
    """registry_gc_schedule on a host without systemd (this one): a cron job runs the script. The test runs the
    script as cron would, and checks what the playbook's collection would: freed, read-write again."""
    refs, _layers = images
    unit = "privreg-registry-gc-%s" % site.containers[0]
    cron_file = "/etc/cron.d/" + unit
    script = os.path.join(site.base_dir, "gc", "registry-gc")
    config = os.path.join(site.base_dir, "config", "config.yml")
    site.play("-e", "registry_gc_schedule=weekly")
    # read-write again once registry_read_only is off (the test before left it on)
    refs["new"] = client.build("gc/new:1", {"layer": os.urandom(64 * 1024)})
    client.cli("push", refs["new"])
    with open(cron_file) as stream:
        assert "@weekly root %s" % script in stream.read()
    assert oct(os.stat(script).st_mode & 0o777) == "0o700"
    with open(os.path.join(site.base_dir, "config", "config-read-only.yml")) as stream:
        assert "maintenance:\n    readonly:\n      enabled: true" in stream.read()
    changed, _output = site.play("-e", "registry_gc_schedule=weekly")
    assert changed == 0

    ref = refs["scheduled-old"] = client.build("gc/scheduled:old", {"layer": os.urandom(768 * 1024)})
    client.cli("push", ref)
    digest, body = client.manifest("gc/scheduled", "old")
    own_layer = json.loads(body)["layers"][0]["digest"]
    client.delete_manifest("gc/scheduled", digest)
    with open(config, "rb") as stream:
        config_before = stream.read()

    done = subprocess.run([script], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"dry run: \d+ blobs marked, 3 blobs and 0 manifests eligible for deletion", done.stdout)
    assert "registry-gc: read-only" in done.stdout
    freed = re.search(r"registry-gc: (\d+) bytes freed", done.stdout)
    assert freed and int(freed.group(1)) >= 768 * 1024, done.stdout
    assert not os.path.exists(blob_file(site, own_layer))
    with open(config, "rb") as stream:
        assert stream.read() == config_before
    # read-write again, and the live images still pull
    refs["scheduled-new"] = client.build("gc/scheduled:new", {"layer": os.urandom(64 * 1024)})
    client.cli("push", refs["scheduled-new"])
    client.cli("rmi", refs["live"])
    client.cli("pull", refs["live"])

    site.play()
    assert not os.path.exists(cron_file) and not os.path.exists(script)
