"""A multi-layer image through each topology with two registry clients: skopeo and the docker CLI.

The docker CLI's own round trip (login, push, rmi, pull) is tested elsewhere
(test_roles_alone.py here; push_pull_round_trip in the Molecule scenarios,
with multi-layer images). This file adds a second client, skopeo, which asks
the registry other questions (blob HEADs before every upload, cross-repository
mounts, OCI layouts), and crosses the two: what one pushes the other pulls,
layer for layer.

The image is built here from `scratch` (nothing can be pulled from the
internet): three COPY layers of random bytes. Its layers are compared by
diff_id (the digest of the uncompressed layer, which no client's compression
changes) and the registry's manifests by digest.

Passwords reach skopeo in an --authfile (0600) and docker on standard input,
never on a command line. The deployments are the session's shared ones
(site_deployment.SharedSites); the repositories pushed here are this module's
alone, and the local image is privreg-test-clients-image:<random>.
"""

import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess

import pytest
from local_engine import docker, needs_engine_and_images
from site_deployment import shared

pytestmark = [
    *needs_engine_and_images,
    pytest.mark.skipif(
        shutil.which("skopeo") is None,
        reason="skopeo missing: run scripts/install-packages.sh",
    ),
]
LAYERS = 3
LAYER_BYTES = 256 * 1024


def run(*command, stdin=None, env=None):
    return subprocess.run(list(command), input=stdin, capture_output=True, text=True, env=env, check=False)


class Clients:
    """skopeo and docker, logged in as alice to one deployment, with config files of their own."""

    def __init__(self, site, workdir):
        self.site = site
        self.endpoint = "localhost:%d" % site.port
        # The CA the role installs for the docker daemon; skopeo reads the same folder
        # (base_dir/certs would not do: skopeo refuses a .key without its .cert).
        self.cert_dir = site.certs_d
        self.workdir = workdir
        self.authfile = os.path.join(workdir, "skopeo-auth.json")
        login = base64.b64encode(("alice:" + site.passwords[0]).encode()).decode()
        fd = os.open(self.authfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as stream:
            json.dump({"auths": {self.endpoint: {"auth": login}}}, stream)
        self.docker_env = dict(os.environ, DOCKER_CONFIG=os.path.join(workdir, "docker-config"))
        self.local_tags = []

    def skopeo_copy(self, source, destination, debug=False):
        """skopeo copy, with the login and the CA on the registry's side. Returns (the
        digest of the manifest written, skopeo's output: with debug, every request it made)."""
        digest_file = os.path.join(self.workdir, "digest")
        copied = run(
            "skopeo",
            *(["--debug"] if debug else []),
            "copy",
            "--authfile",
            self.authfile,
            "--src-cert-dir",
            self.cert_dir,
            "--dest-cert-dir",
            self.cert_dir,
            "--digestfile",
            digest_file,
            source,
            destination,
        )
        assert copied.returncode == 0, copied.stdout + copied.stderr
        with open(digest_file) as stream:
            return stream.read().strip(), copied.stdout + copied.stderr

    def registry_manifest(self, ref):
        """(digest, manifest) of what the registry holds under docker://<ref>, as it sends it."""
        inspected = run("skopeo", "inspect", "--raw", "--authfile", self.authfile, "--cert-dir", self.cert_dir, ref)
        assert inspected.returncode == 0, inspected.stderr
        return "sha256:" + hashlib.sha256(inspected.stdout.encode()).hexdigest(), json.loads(inspected.stdout)

    def docker(self, *args, stdin=None):
        return run("docker", *args, stdin=stdin, env=self.docker_env)

    def docker_login(self):
        login = self.docker(
            "login", self.endpoint, "--username", "alice", "--password-stdin", stdin=self.site.passwords[0]
        )
        assert login.returncode == 0, login.stderr

    def tag(self, image, repository):
        ref = "%s/%s" % (self.endpoint, repository)
        assert docker("tag", image, ref).returncode == 0
        self.local_tags.append(ref)
        return ref

    def remove(self):
        for ref in self.local_tags:
            docker("rmi", ref)
        self.docker("logout", self.endpoint)


def diff_ids_of(image):
    """The uncompressed layer digests of a local docker image."""
    shown = docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", image)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def repo_digest_of(image, repository):
    shown = docker("image", "inspect", "--format", "{{json .RepoDigests}}", image)
    return [ref.split("@", 1)[1] for ref in json.loads(shown.stdout) if ref.split("@", 1)[0].endswith(repository)]


def layer_digests(manifest):
    return [layer["digest"] for layer in manifest["layers"]]


class OciLayout:
    """An OCI image layout folder as skopeo writes it (one image in it)."""

    def __init__(self, folder):
        self.folder = folder
        with open(os.path.join(folder, "index.json")) as stream:
            (entry,) = json.load(stream)["manifests"]
        self.manifest_digest = entry["digest"]
        self.manifest = json.loads(self.blob(entry["digest"]))
        self.config = json.loads(self.blob(self.manifest["config"]["digest"]))

    def blob(self, digest):
        algorithm, hex_digest = digest.split(":", 1)
        with open(os.path.join(self.folder, "blobs", algorithm, hex_digest), "rb") as stream:
            data = stream.read()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest, "blob bytes do not match their name"
        return data

    def layer_digests(self):
        return layer_digests(self.manifest)

    def uncompressed_layer_digests(self):
        """What each layer blob holds, uncompressed: must be the config's diff_ids."""
        digests = []
        for layer in self.manifest["layers"]:
            data = self.blob(layer["digest"])
            if layer["mediaType"].endswith("gzip"):
                data = gzip.decompress(data)
            digests.append("sha256:" + hashlib.sha256(data).hexdigest())
        return digests


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A local image of LAYERS layers of random bytes, FROM scratch."""
    context = tmp_path_factory.mktemp("context")
    lines = ["FROM scratch"]
    for index in range(LAYERS):
        (context / ("layer%d.bin" % index)).write_bytes(os.urandom(LAYER_BYTES))
        lines.append("COPY layer%d.bin /layer%d.bin" % (index, index))
    (context / "Dockerfile").write_text("\n".join(lines) + "\n")
    name = "privreg-test-clients-image:%s" % os.urandom(4).hex()
    built = docker("build", "-q", "-t", name, str(context))
    assert built.returncode == 0, built.stderr
    assert len(diff_ids_of(name)) == LAYERS
    yield name
    docker("rmi", name)


@pytest.fixture(scope="module", params=[shared("nginx_proxy"), shared("native")])
def clients(request, tmp_path_factory, shared_sites):
    site = shared_sites.get(request.param)
    both = Clients(site, str(tmp_path_factory.mktemp("clients-" + request.param)))
    yield both
    both.remove()


def test_the_role_gives_the_docker_daemon_the_registry_ca(clients):
    with open(os.path.join(clients.cert_dir, "ca.crt")) as installed:
        with open(os.path.join(clients.site.base_dir, "certs", "ca.crt")) as own:
            assert installed.read() == own.read()


def test_skopeo_pushes_from_the_daemon_and_copies_back_to_an_oci_layout(clients, image, tmp_path):
    remote = "docker://%s/team-a/skopeo:1" % clients.endpoint
    pushed, _output = clients.skopeo_copy("docker-daemon:" + image, remote)
    held, manifest = clients.registry_manifest(remote)
    assert held == pushed
    assert len(manifest["layers"]) == LAYERS
    clients.skopeo_copy(remote, "oci:%s:1" % (tmp_path / "layout"))
    layout = OciLayout(str(tmp_path / "layout"))
    # The layer blobs came back as the registry holds them, and uncompressed
    # they are the image's own layers.
    assert layout.layer_digests() == layer_digests(manifest)
    assert layout.uncompressed_layer_digests() == layout.config["rootfs"]["diff_ids"] == diff_ids_of(image)


def skipped_blobs(debug_output):
    """The blobs skopeo did not upload, as the destination had them already (or mounted them)."""
    return re.findall(r"Skipping blob (sha256:[0-9a-f]{64}) \(already present\)", debug_output)


def test_skopeo_reuses_blobs_the_repository_has_and_mounts_those_of_another(clients, image, tmp_path):
    source = "docker://%s/team-a/layout-source:1" % clients.endpoint
    clients.skopeo_copy("docker-daemon:" + image, source)
    clients.skopeo_copy(source, "oci:%s:1" % (tmp_path / "layout"))
    layout = OciLayout(str(tmp_path / "layout"))
    # The layout back to team-a: a HEAD finds every layer there, none is uploaded again.
    again, output = clients.skopeo_copy("oci:%s:1" % (tmp_path / "layout"), source, debug=True)
    assert again == layout.manifest_digest
    assert set(layout.layer_digests()) <= set(skipped_blobs(output)), output
    # To team-b, where no layer is linked: the HEADs must say 404 there (or skopeo
    # would skip without mounting), then each layer is mounted from team-a.
    other = "docker://%s/team-b/layout-copy:1" % clients.endpoint
    copied, output = clients.skopeo_copy(source, other, debug=True)
    source_digest, _manifest = clients.registry_manifest(source)
    assert copied == source_digest
    assert output.count("... mount OK") >= len(layout.layer_digests()), output
    assert set(layout.layer_digests()) <= set(skipped_blobs(output)), output
    clients.skopeo_copy(other, "oci:%s:1" % (tmp_path / "back"))
    back = OciLayout(str(tmp_path / "back"))
    assert back.layer_digests() == layout.layer_digests()
    assert back.uncompressed_layer_digests() == diff_ids_of(image)


def test_docker_pulls_what_skopeo_pushed(clients, image):
    ref = clients.tag(image, "team-a/from-skopeo:1")
    pushed, _output = clients.skopeo_copy("docker-daemon:" + image, "docker://" + ref)
    assert docker("rmi", ref).returncode == 0
    clients.docker_login()
    pulled = clients.docker("pull", ref)
    assert pulled.returncode == 0, pulled.stderr
    assert repo_digest_of(ref, "team-a/from-skopeo") == [pushed]
    assert diff_ids_of(ref) == diff_ids_of(image)


def test_skopeo_copies_what_docker_pushed(clients, image, tmp_path):
    ref = clients.tag(image, "team-a/from-docker:1")
    clients.docker_login()
    pushed = clients.docker("push", ref)
    assert pushed.returncode == 0, pushed.stderr
    (docker_digest,) = repo_digest_of(ref, "team-a/from-docker")
    held, manifest = clients.registry_manifest("docker://" + ref)
    assert held == docker_digest
    clients.skopeo_copy("docker://" + ref, "oci:%s:1" % (tmp_path / "layout"))
    layout = OciLayout(str(tmp_path / "layout"))
    assert layout.layer_digests() == layer_digests(manifest)
    assert layout.uncompressed_layer_digests() == diff_ids_of(image)


def test_skopeo_without_a_login_is_refused(clients, image, tmp_path):
    ref = "docker://%s/team-a/skopeo:1" % clients.endpoint
    clients.skopeo_copy("docker-daemon:" + image, ref)
    anonymous = run(
        "skopeo",
        "copy",
        "--src-no-creds",
        "--src-cert-dir",
        clients.cert_dir,
        ref,
        "oci:%s:1" % (tmp_path / "layout"),
    )
    assert anonymous.returncode != 0
    assert "unauthorized" in anonymous.stderr.lower() or "401" in anonymous.stderr, anonymous.stderr
