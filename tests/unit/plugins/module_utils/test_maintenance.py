"""module_utils/_maintenance.py: a registry's release, its garbage collection's output, schema-1 manifests."""

import json
import os

import pytest

from ansible_collections.privreg.registry.plugins.module_utils._maintenance import (
    MaintenanceError,
    blob_data_path,
    gc_summary,
    is_schema1,
    needs_schema1_scan,
    release,
    schema1_manifests,
    unreadable_storage_problem,
    upgrade_problem,
)


@pytest.mark.parametrize(
    "output, major, version",
    [
        # Debian 12's docker-registry package (seen here)
        ("registry github.com/docker/distribution 2.8.2+ds1\n", 2, "2.8.2"),
        # upstream registry:2 images
        ("registry github.com/docker/distribution v2.8.3", 2, "2.8.3"),
        ("/bin/registry github.com/docker/distribution v2.7.1+unknown", 2, "2.7.1"),
        # distribution 3 (source build and release)
        ("registry github.com/distribution/distribution/v3 v3.1.1+unknown", 3, "3.1.1"),
        ("registry github.com/distribution/distribution/v3 v3.0.0", 3, "3.0.0"),
        # a warning line before the version line
        ("WARN something\nregistry github.com/distribution/distribution/v3 v3.1.1\n", 3, "3.1.1"),
    ],
)
def test_release_reads_the_major_from_the_version_line(output, major, version):
    found = release(output)
    assert (found["major"], found["version"]) == (major, version)


@pytest.mark.parametrize(
    "output",
    [
        "",
        "sh: registry: not found",
        "registry github.com/docker/distribution",
        "registry github.com/docker/distribution unknown",
        # the module path and the version disagree
        "registry github.com/distribution/distribution/v3 v2.8.3",
    ],
)
def test_release_refuses_what_is_not_a_version_line(output):
    with pytest.raises(MaintenanceError) as error:
        release(output)
    assert repr(output) in str(error.value)


# What registry 2.8.2 printed here for a dry run after one tag of two was deleted.
DRY_RUN = """t/img
t/img: marking manifest sha256:f70ee25619ea9e03267aabf314d00699ba0bd4231e580b3d5ca29cb7aab7e8e9
t/img: marking blob sha256:8907de8945c66f036cb44c0689936c956394d89820600f309588990eee9eb6bb

4 blobs marked, 3 blobs and 0 manifests eligible for deletion
blob eligible for deletion: sha256:f62d9d4e60751e72fc2789d5b3c7f9bbce8c8e19caac17da6e3881351b006fc2
blob eligible for deletion: sha256:5eb4d5d0537e82da19ab8de1da4f7e8816b465ce7a545631529f516b9c017f08
blob eligible for deletion: sha256:a7f29346780af7f1588502a95a055425d659a20d867313f76230f9ee3e4b2bf2
"""

# A run with --delete-untagged (the format of distribution's garbagecollect.go): each blob
# line is followed by the driver's log line.
RUN = (
    "\n7 blobs marked, 1 blobs and 1 manifests eligible for deletion\n"
    # distribution prints the manifest as a Go struct: {name digest [tags]}
    "manifest eligible for deletion: {t/img sha256:%s []}\n"
    "blob eligible for deletion: sha256:%s\n"
    'time="2026-11-28T06:35:08Z" level=info msg="Deleting blob: /docker/registry/v2/blobs/sha256/a7/%s" '
    "go.version=go1.19.8\n" % ("1" * 64, "a" * 64, "a" * 64)
)


def test_gc_summary_of_a_dry_run():
    summary = gc_summary(DRY_RUN)
    assert (summary["marked"], summary["blobs"], summary["manifests"]) == (4, 3, 0)
    assert summary["blob_digests"] == [
        "sha256:f62d9d4e60751e72fc2789d5b3c7f9bbce8c8e19caac17da6e3881351b006fc2",
        "sha256:5eb4d5d0537e82da19ab8de1da4f7e8816b465ce7a545631529f516b9c017f08",
        "sha256:a7f29346780af7f1588502a95a055425d659a20d867313f76230f9ee3e4b2bf2",
    ]
    assert summary["manifests_deleted"] == []


def test_gc_summary_of_a_run_with_untagged_manifests():
    summary = gc_summary(RUN)
    assert (summary["marked"], summary["blobs"], summary["manifests"]) == (7, 1, 1)
    assert summary["blob_digests"] == ["sha256:" + "a" * 64]
    assert summary["manifests_deleted"] == ["{t/img sha256:%s []}" % ("1" * 64)]


def test_gc_summary_without_a_summary_line_fails_quoting_the_end():
    with pytest.raises(MaintenanceError, match="failed to mark: schema1 manifest"):
        gc_summary("t/img\nt/img: marking manifest sha256:x\nfailed to mark: schema1 manifest not supported")


def test_blob_data_path():
    assert blob_data_path("/v2", "sha256:ab" + "c" * 62) == "/v2/blobs/sha256/ab/ab%s/data" % ("c" * 62)


SCHEMA1 = json.dumps(
    {"schemaVersion": 1, "name": "old/app", "tag": "v1", "architecture": "amd64", "fsLayers": [], "history": []}
).encode()
SCHEMA2 = json.dumps(
    {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "layers": []}
).encode()
OCI_INDEX = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"}).encode()


@pytest.mark.parametrize(
    "content, expected",
    [
        (SCHEMA1, True),
        (json.dumps({"mediaType": "application/vnd.docker.distribution.manifest.v1+prettyjws"}).encode(), True),
        (SCHEMA2, False),
        (OCI_INDEX, False),
        (b"\x1f\x8b binary layer", False),
        (b"[1, 2]", False),
    ],
)
def test_is_schema1(content, expected):
    assert is_schema1(content) is expected


def store(root, repository, content, tags=()):
    """A manifest as the filesystem driver keeps it: blob data, revision link, tag links."""
    import hashlib

    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    data = blob_data_path(root, digest)
    os.makedirs(os.path.dirname(data), exist_ok=True)
    with open(data, "wb") as blob:
        blob.write(content)
    manifests = os.path.join(root, "repositories", repository, "_manifests")
    revision = os.path.join(manifests, "revisions", "sha256", digest.split(":")[1])
    os.makedirs(revision, exist_ok=True)
    with open(os.path.join(revision, "link"), "w") as link:
        link.write(digest)
    for tag in tags:
        current = os.path.join(manifests, "tags", tag, "current")
        os.makedirs(current, exist_ok=True)
        with open(os.path.join(current, "link"), "w") as link:
            link.write(digest)
    return digest


def test_schema1_manifests_lists_only_schema1_revisions_with_their_tags(tmp_path):
    root = str(tmp_path / "docker" / "registry" / "v2")
    old = store(root, "team/old", SCHEMA1, tags=("v1", "latest"))
    store(root, "team/new", SCHEMA2, tags=("v2",))
    store(root, "team/new", OCI_INDEX)
    untagged = store(root, "a/b/c", SCHEMA1 + b" ")
    assert schema1_manifests(root) == [
        {"repository": "a/b/c", "digest": untagged, "tags": []},
        {"repository": "team/old", "digest": old, "tags": ["latest", "v1"]},
    ]


def test_schema1_manifests_of_empty_or_absent_storage(tmp_path):
    assert schema1_manifests(str(tmp_path / "nothing")) == []
    root = str(tmp_path / "v2")
    store(root, "app", SCHEMA2, tags=("1",))
    assert schema1_manifests(root) == []


def test_schema1_manifests_skips_a_revision_whose_blob_is_gone(tmp_path):
    root = str(tmp_path / "v2")
    digest = store(root, "app", SCHEMA1)
    os.remove(blob_data_path(root, digest))
    assert schema1_manifests(root) == []


@pytest.mark.parametrize(
    "running, wanted, expected",
    [(2, 3, True), (2, 4, True), (None, 3, False), (2, 2, False), (3, 3, False), (3, 2, False), (2, None, False)],
)
def test_needs_schema1_scan_only_when_crossing_into_3(running, wanted, expected):
    assert needs_schema1_scan(running, wanted) is expected


def test_upgrade_problem_lists_the_manifests_and_the_way_out():
    found = [
        {"repository": "team/old", "digest": "sha256:" + "1" * 64, "tags": ["v1"]},
        {"repository": "a", "digest": "sha256:" + "2" * 64, "tags": []},
    ]
    problem = upgrade_problem(2, 3, found)
    assert "registry 3.x cannot serve the 2 schema-1 manifest(s)" in problem
    assert "team/old@sha256:%s (tags: v1)" % ("1" * 64) in problem
    assert "a@sha256:%s;" % ("2" * 64) not in problem and problem.count("a@sha256:" + "2" * 64) == 1
    assert "keep registry_image on 2.x" in problem and "skopeo copy --format v2s2" in problem
    assert upgrade_problem(2, 3, []) is None
    assert upgrade_problem(3, 3, found) is None
    assert upgrade_problem(None, 3, found) is None


def test_unreadable_storage_problem_says_how_to_check_the_bucket():
    problem = unreadable_storage_problem(2, 3)
    assert "from 2.x to 3.x" in problem and "registry_schema1_check: false" in problem
    assert "_manifests/revisions/sha256" in problem
