"""What a client meets when it fetches blobs (`/v2/<name>/blobs/<digest>`), per topology.

Behind nginx, every answer of the client-facing endpoint must be the answer the
registry gives itself: the registry is asked the same question over its unix
socket (plain HTTP, no login there) and the two answers are compared: status,
body, and the headers in COMPARED_HEADERS (present or absent alike). Whatever
nginx does with a blob request, proxy it or serve the file from the registry's
storage, it must not change what clients see. Natively the registry is the
endpoint; both topologies are also held to what the registry is seen to do
(the `status` of each case, the bytes served, the error code), so the native
run is a test too and the table below documents the registry's behaviour.

Two blobs are pushed with the registry's HTTP API (monolithic POST + PUT):
APP to team-a/app only, OTHER to team-b/other only. A blob of another
repository is unknown under team-a (BLOB_UNKNOWN), and no path trick may
reach it or any file of the storage from a team-a URL.

The deployments are the session's shared ones (site_deployment.SharedSites); the
repositories team-a/app and team-b/other are this module's alone (its blobs are
random bytes, so no other module's push can make one known here).
"""

import base64
import email.utils
import hashlib
import http.client
import json
import os
import shutil
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field

import pytest
from local_engine import docker, needs_engine_and_images
from site_deployment import restore, shared

pytestmark = needs_engine_and_images

REALM = "Registry Realm"
APP_REPOSITORY = "team-a/app"
OTHER_REPOSITORY = "team-b/other"
# A few hundred KB: larger than nginx's default buffers, so the answer streams.
APP_SIZE = 300 * 1024
OTHER_SIZE = 200 * 1024

# Headers a client may act on. Date, Server, Connection and Keep-Alive are
# the transport's and are not compared. Location (redirects) and
# X-Content-Type-Options (the deployment's http.headers) are not blob headers
# but belong to the answers as much.
COMPARED_HEADERS = (
    "content-length",
    "content-type",
    "content-range",
    "accept-ranges",
    "docker-content-digest",
    "etag",
    "cache-control",
    "docker-distribution-api-version",
    "last-modified",
    "x-content-type-options",
    "location",
    "www-authenticate",
)


# ---- HTTP -------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict  # lower-case names; a header sent twice has its values joined by ", "
    body: bytes
    complete: bool  # False when the connection closed before Content-Length bytes came

    def compared(self, names=COMPARED_HEADERS):
        return {name: self.headers[name] for name in names if name in self.headers}


class UnixHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP over a unix socket (the registry's, behind nginx)."""

    def __init__(self, path):
        super().__init__("localhost")
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.socket_path)


def ask(connection, method, path, headers=None, body=None):
    """One request on a fresh connection; the path goes out as written (no normalising)."""
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        try:
            data, complete = response.read(), True
        except http.client.IncompleteRead as short:
            data, complete = short.partial, False
        joined = {}
        for name, value in response.getheaders():
            name = name.lower()
            joined[name] = joined[name] + ", " + value if name in joined else value
        return Answer(response.status, joined, data, complete)
    finally:
        connection.close()


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Deployment:
    """A Site with its two ways in: the client-facing endpoint and, behind nginx, the registry's socket."""

    def __init__(self, site):
        self.site = site
        self.topology = site.topology
        self.ca = ssl.create_default_context(cafile=os.path.join(site.base_dir, "certs", "ca.crt"))
        self.alice = basic("alice", site.passwords[0])
        self.storage = os.path.join(site.base_dir, "data", "docker", "registry", "v2")
        self.socket = None
        if site.topology == "nginx_proxy":
            volume = json.loads(docker("volume", "inspect", site.containers[0] + "-socket").stdout)[0]
            self.socket = os.path.join(volume["Mountpoint"], "registry.sock")

    def endpoint(self, method, path, headers=None, body=None, auth=True):
        """The client-facing endpoint, https://localhost:<port>, as alice unless auth is False."""
        connection = http.client.HTTPSConnection("localhost", self.site.port, context=self.ca, timeout=60)
        return ask(connection, method, path, {**(self.alice if auth else {}), **(headers or {})}, body)

    def registry(self, method, path, headers=None):
        """The registry itself, behind nginx: its socket, no login."""
        return ask(UnixHTTPConnection(self.socket), method, path, headers)

    def push_blob(self, repository, data):
        """A monolithic upload: POST opens it, one PUT with the whole blob and its digest closes it."""
        opened = self.endpoint("POST", "/v2/%s/blobs/uploads/" % repository, {"Content-Length": "0"})
        assert opened.status == 202, opened
        upload = urllib.parse.urlsplit(opened.headers["location"])
        digest = digest_of(data)
        query = upload.query + ("&" if upload.query else "") + "digest=" + digest
        closed = self.endpoint("PUT", upload.path + "?" + query, {"Content-Type": "application/octet-stream"}, data)
        assert closed.status == 201, closed
        assert closed.headers["docker-content-digest"] == digest
        return digest

    def data_file(self, digest):
        hex_digest = digest.split(":", 1)[1]
        return os.path.join(self.storage, "blobs", "sha256", hex_digest[:2], hex_digest, "data")

    def layer_link_folder(self, repository, digest):
        return os.path.join(self.storage, "repositories", repository, "_layers", "sha256", digest.split(":", 1)[1])

    def restart_registry(self):
        """Restart the registry container (which empties its in-memory blob descriptor
        cache) and wait until the endpoint answers /v2/ again."""
        assert docker("restart", self.site.containers[0]).returncode == 0
        for _attempt in range(120):
            try:
                if self.endpoint("GET", "/v2/").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        pytest.fail("the registry did not answer again after its restart")


@pytest.fixture(scope="module", params=[shared("nginx_proxy"), shared("native")])
def deployment(request, shared_sites):
    return Deployment(shared_sites.get(request.param))


@dataclass
class Blobs:
    app: bytes
    other: bytes
    app_digest: str
    other_digest: str
    app_mtime: str  # the data file's modification time, as an HTTP date


@pytest.fixture(scope="module")
def blobs(deployment):
    app, other = os.urandom(APP_SIZE), os.urandom(OTHER_SIZE)
    app_digest = deployment.push_blob(APP_REPOSITORY, app)
    other_digest = deployment.push_blob(OTHER_REPOSITORY, other)
    mtime = email.utils.formatdate(os.stat(deployment.data_file(app_digest)).st_mtime, usegmt=True)
    return Blobs(app, other, app_digest, other_digest, mtime)


# ---- what the registry does ---------------------------------------------------------


def blob_headers(digest, length, content_range=None):
    """The headers the registry sends with a blob (200, 206, and HEAD alike). No Last-Modified."""
    headers = {
        "accept-ranges": "bytes",
        "cache-control": "max-age=31536000",
        "content-length": str(length),
        "content-type": "application/octet-stream",
        "docker-content-digest": digest,
        "docker-distribution-api-version": "registry/2.0",
        "etag": '"%s"' % digest,
        "x-content-type-options": "nosniff",
    }
    if content_range:
        headers["content-range"] = content_range
    return headers


def not_modified_headers(digest):
    """A 304 keeps the blob's identity and caching headers, and drops the body's."""
    return {
        "cache-control": "max-age=31536000",
        "docker-content-digest": digest,
        "docker-distribution-api-version": "registry/2.0",
        "etag": '"%s"' % digest,
        "x-content-type-options": "nosniff",
    }


@dataclass(frozen=True)
class Case:
    """One request and what the registry answers.

    ``path`` and header values are templates: {app} and {other} are the blobs'
    hex digests, {APP} the first in capitals, {etag} the app blob's ETag,
    {mtime} its data file's modification time. ``served`` is the slice of the
    app blob a 200/206 carries; ``error`` the code of a JSON error body;
    ``location`` where a redirect points.
    """

    method: str
    path: str
    status: int
    headers: dict = field(default_factory=dict)
    served: slice = None
    error: str = None
    location: str = None


APP = "/v2/team-a/app/blobs/sha256:{app}"
OTHER_UNDER_APP = "/v2/team-a/app/blobs/sha256:{other}"
OTHER = "/v2/team-b/other/blobs/sha256:{other}"
EVERYTHING = slice(None)

CASES = {
    # a linked blob
    "get": Case("GET", APP, 200, served=EVERYTHING),
    "head": Case("HEAD", APP, 200, served=EVERYTHING),
    "get-of-the-other-repository-in-its-own": Case("GET", OTHER, 200),
    "query-string-ignored": Case("GET", APP + "?x=1&digest=sha256:{other}", 200, served=EVERYTHING),
    "encoded-colon": Case("GET", "/v2/team-a/app/blobs/sha256%3A{app}", 200, served=EVERYTHING),
    # ranges (the 416 and the multi-range have tests of their own)
    "range-first-100": Case("GET", APP, 206, {"Range": "bytes=0-99"}, served=slice(0, 100)),
    "range-first-100-head": Case("HEAD", APP, 206, {"Range": "bytes=0-99"}, served=slice(0, 100)),
    "range-from-100": Case("GET", APP, 206, {"Range": "bytes=100-"}, served=slice(100, None)),
    "range-last-100": Case("GET", APP, 206, {"Range": "bytes=-100"}, served=slice(-100, None)),
    "if-range-matching-etag": Case(
        "GET", APP, 206, {"Range": "bytes=0-99", "If-Range": "{etag}"}, served=slice(0, 100)
    ),
    "if-range-other-etag-sends-all": Case(
        "GET", APP, 200, {"Range": "bytes=0-99", "If-Range": '"sha256:{other}"'}, served=EVERYTHING
    ),
    # conditional requests: the ETag is the quoted digest; there is no Last-Modified,
    # so If-Modified-Since (even the data file's own mtime) changes nothing
    "if-none-match-etag": Case("GET", APP, 304, {"If-None-Match": "{etag}"}),
    "if-none-match-etag-head": Case("HEAD", APP, 304, {"If-None-Match": "{etag}"}),
    "if-none-match-unquoted-digest": Case("GET", APP, 200, {"If-None-Match": "sha256:{app}"}, served=EVERYTHING),
    "if-none-match-star": Case("GET", APP, 304, {"If-None-Match": "*"}),
    "if-modified-since-data-mtime": Case("GET", APP, 200, {"If-Modified-Since": "{mtime}"}, served=EVERYTHING),
    # unknown here
    "never-pushed": Case("GET", "/v2/team-a/app/blobs/sha256:" + "0" * 64, 404, error="BLOB_UNKNOWN"),
    "never-pushed-head": Case("HEAD", "/v2/team-a/app/blobs/sha256:" + "0" * 64, 404),
    "other-repository-blob": Case("GET", OTHER_UNDER_APP, 404, error="BLOB_UNKNOWN"),
    "other-repository-blob-head": Case("HEAD", OTHER_UNDER_APP, 404),
    "other-repository-blob-ranged": Case("GET", OTHER_UNDER_APP, 404, {"Range": "bytes=0-99"}, error="BLOB_UNKNOWN"),
    "other-algorithm": Case("GET", "/v2/team-a/app/blobs/sha512:{app}{app}", 404, error="BLOB_UNKNOWN"),
    "uppercase-hex": Case("GET", "/v2/team-a/app/blobs/sha256:{APP}", 400, error="DIGEST_INVALID"),
    "short-hex": Case("GET", "/v2/team-a/app/blobs/sha256:{short}", 400, error="DIGEST_INVALID"),
    # path tricks: the registry redirects to the cleaned path (where the client's
    # credentials are asked again) or refuses; it never answers a team-a URL with
    # a team-b blob or a storage file
    "dot-dot-to-other-repository": Case("GET", "/v2/team-a/../team-b/other/blobs/sha256:{other}", 301, location=OTHER),
    "encoded-dot-dot": Case("GET", "/v2/team-a/%2e%2e/team-b/other/blobs/sha256:{other}", 301, location=OTHER),
    "encoded-slashes-and-dot-dot": Case(
        "GET", "/v2/team-a/app%2F..%2F..%2Fteam-b%2Fother/blobs/sha256:{other}", 301, location=OTHER
    ),
    "dot-dot-after-the-digest": Case(
        "GET", APP + "/../../../../team-b/other/blobs/sha256:{other}", 301, location=OTHER
    ),
    "dot-dot-in-the-digest-to-storage": Case(
        "GET",
        "/v2/team-a/app/blobs/sha256:..%2F..%2F..%2F..%2Fblobs%2Fsha256%2F{other}",
        301,
        location="/v2/team-a/blobs/sha256/{other}",
    ),
    "encoded-slash-in-the-name": Case("GET", "/v2/team-a%2Fapp/blobs/sha256:{app}", 200, served=EVERYTHING),
    "double-slash-in-the-name": Case("GET", "/v2/team-a//app/blobs/sha256:{app}", 301, location=APP),
    "double-slash-first": Case("GET", "/" + APP, 301, location=APP),
    "trailing-slash": Case("GET", APP + "/", 301, location=APP),
    # the registry's route only takes lower-case names, and answers 500 with "{}"
    "uppercase-name": Case("GET", "/v2/TEAM-A/app/blobs/sha256:{app}", 500),
    "storage-file-below-the-blob": Case("GET", APP + "/data", 404),
    "storage-link-file": Case("GET", "/v2/team-a/app/_layers/sha256/{app}/link", 404),
}


def fill(template, blobs):
    app_hex = blobs.app_digest.split(":", 1)[1]
    other_hex = blobs.other_digest.split(":", 1)[1]
    return template.format(
        app=app_hex,
        other=other_hex,
        APP=app_hex.upper(),
        short=app_hex[:-1],
        etag='"%s"' % blobs.app_digest,
        mtime=blobs.app_mtime,
    )


def error_codes(answer):
    return [error["code"] for error in json.loads(answer.body)["errors"]]


def check_against_the_registry_behaviour(answer, case, blobs):
    """What the registry is seen to answer: status, bytes, error code, redirect target."""
    assert answer.status == case.status
    assert answer.complete
    if case.served is not None:
        served = blobs.app[case.served]
        assert answer.body == (served if case.method == "GET" else b"")
        start = case.served.indices(len(blobs.app))[0]
        content_range = (
            "bytes %d-%d/%d" % (start, start + len(served) - 1, len(blobs.app)) if case.status == 206 else None
        )
        assert answer.compared() == blob_headers(blobs.app_digest, len(served), content_range)
    if case.status == 304:
        assert answer.compared() == not_modified_headers(blobs.app_digest)
    if case.error:
        assert error_codes(answer) == [case.error]
    if case.location:
        assert answer.headers["location"] == fill(case.location, blobs)
    # never another repository's blob, whatever the path
    assert blobs.other not in answer.body or case.path == OTHER


@pytest.mark.parametrize("name", list(CASES))
def test_a_blob_request_is_answered_as_the_registry_answers_it(deployment, blobs, name):
    case = CASES[name]
    path = fill(case.path, blobs)
    headers = {key: fill(value, blobs) for key, value in case.headers.items()}
    answer = deployment.endpoint(case.method, path, headers)
    check_against_the_registry_behaviour(answer, case, blobs)
    if deployment.socket:
        registry = deployment.registry(case.method, path, headers)
        assert (answer.status, answer.compared(), answer.body) == (registry.status, registry.compared(), registry.body)


def byte_ranges(answer):
    """The parts of a multipart/byteranges body: [(Content-Range, bytes)]."""
    media_type, _separator, boundary = answer.headers["content-type"].partition("; boundary=")
    assert media_type == "multipart/byteranges"
    parts = []
    for chunk in answer.body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):  # the closing delimiter
            break
        head, _separator, data = chunk.partition(b"\r\n\r\n")
        part_headers = dict(line.lower().split(": ", 1) for line in head.decode().split("\r\n") if line)
        assert part_headers["content-type"] == "application/octet-stream"
        parts.append((part_headers["content-range"], data[: -len(b"\r\n")]))
    return parts


def test_a_multi_range_request_gets_the_same_parts(deployment, blobs):
    # The boundary is random (the registry's is 60 hex characters, nginx's would be
    # digits), so the body and its length differ by request: the parts must not.
    answer = deployment.endpoint("GET", fill(APP, blobs), {"Range": "bytes=0-9,20-29"})
    assert answer.status == 206 and answer.complete
    assert int(answer.headers["content-length"]) == len(answer.body)
    size = len(blobs.app)
    assert byte_ranges(answer) == [
        ("bytes 0-9/%d" % size, blobs.app[0:10]),
        ("bytes 20-29/%d" % size, blobs.app[20:30]),
    ]
    others = ("accept-ranges", "cache-control", "docker-content-digest", "etag", "docker-distribution-api-version")
    assert answer.compared(others) == {k: v for k, v in blob_headers(blobs.app_digest, 0).items() if k in others}
    assert "last-modified" not in answer.headers and "content-range" not in answer.headers


def test_a_range_past_the_end_is_416_with_the_size(deployment, blobs):
    # Only the status and Content-Range are the registry's answer here. The rest
    # is a registry bug no one should copy: it keeps the blob's headers, among
    # them Content-Length: <blob size>, sends the 33 bytes "invalid range:
    # failed to overlap\n" as text/plain, and closes the connection short.
    path = fill(APP, blobs)
    answer = deployment.endpoint("GET", path, {"Range": "bytes=%d-" % (10 * APP_SIZE)})
    essentials = ("content-range", "docker-distribution-api-version")
    assert answer.status == 416
    assert answer.compared(essentials) == {
        "content-range": "bytes */%d" % len(blobs.app),
        "docker-distribution-api-version": "registry/2.0",
    }
    assert blobs.app[:100] not in answer.body
    if deployment.socket:
        registry = deployment.registry("GET", path, {"Range": "bytes=%d-" % (10 * APP_SIZE)})
        assert (registry.status, registry.compared(essentials)) == (416, answer.compared(essentials))


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    "credentials",
    [None, ("alice", "wrong"), ("nobody", "wrong")],
    ids=["anonymous", "wrong-password", "unknown-user"],
)
def test_a_blob_needs_a_login(deployment, blobs, method, credentials):
    headers = basic(*credentials) if credentials else {}
    answer = deployment.endpoint(method, fill(APP, blobs), headers, auth=False)
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == 'Basic realm="%s"' % REALM
    assert answer.headers["docker-distribution-api-version"] == "registry/2.0"
    assert blobs.app[:100] not in answer.body
    assert "docker-content-digest" not in answer.headers and "etag" not in answer.headers


def test_blob_delete_is_refused_as_the_deployment_disables_it(deployment, blobs):
    # config.yml leaves storage.delete off: DELETE is 405 UNSUPPORTED, and the blob stays.
    path = fill(APP, blobs)
    answer = deployment.endpoint("DELETE", path)
    assert (answer.status, error_codes(answer)) == (405, ["UNSUPPORTED"])
    if deployment.socket:
        registry = deployment.registry("DELETE", path)
        assert (answer.status, answer.compared(), answer.body) == (registry.status, registry.compared(), registry.body)
    assert deployment.endpoint("HEAD", path).status == 200


def test_a_blob_whose_link_or_data_is_gone_is_unknown(deployment, blobs):
    # Delete is disabled, so what a blob delete (link removed) and a garbage
    # collection (data removed, the link kept: 2.8's GC leaves layer links) leave
    # behind is made by hand. The registry caches blob descriptors in memory
    # (storage.cache.blobdescriptor: inmemory) and would serve from that cache
    # until it restarts, so it is restarted, as it is after an offline GC
    # (the other tests do not rely on that cache).
    unlinked = deployment.push_blob(APP_REPOSITORY, os.urandom(4096))
    collected = deployment.push_blob(APP_REPOSITORY, os.urandom(4096))
    shutil.rmtree(deployment.layer_link_folder(APP_REPOSITORY, unlinked))
    shutil.rmtree(os.path.dirname(deployment.data_file(collected)))
    # The same container comes back with its configuration; the gone blobs are this test's own. Only a
    # registry that does not answer again needs a converge for the tests after this one.
    try:
        deployment.restart_registry()
    except BaseException:
        restore(deployment.site)
        raise
    check_the_gone_blobs_are_unknown(deployment, blobs, unlinked, collected)


def check_the_gone_blobs_are_unknown(deployment, blobs, unlinked, collected):
    for digest in (unlinked, collected):
        path = "/v2/%s/blobs/%s" % (APP_REPOSITORY, digest)
        for method in ("GET", "HEAD"):
            answer = deployment.endpoint(method, path)
            assert answer.status == 404, (digest, method)
            if method == "GET":
                assert error_codes(answer) == ["BLOB_UNKNOWN"]
            if deployment.socket:
                registry = deployment.registry(method, path)
                assert (answer.status, answer.compared(), answer.body) == (
                    registry.status,
                    registry.compared(),
                    registry.body,
                )
    # the blobs around them are still served
    assert deployment.endpoint("HEAD", fill(APP, blobs)).status == 200
