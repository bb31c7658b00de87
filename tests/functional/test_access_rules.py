"""Access rules (registry_access) and anonymous pulls (registry_anonymous_pull), nginx topology.

One deployment through site.yml with the issue's own example rules:
- base/* and library/**: pull for every account;
- {user}/**: pull and push in each user's own namespace;
- **: everything for alice (pull, push, delete, catalog);
and base/* pullable without an account on the anonymous port. bob is the
account the rules limit. Every check is a real request to the deployed
endpoint (nginx, njs, the registry behind it) or the real docker client.

Names are privreg-test-access-*.
"""

import base64
import json
import os
import subprocess
import urllib.parse

import pytest
from local_engine import docker, needs_engine_and_images, unused_port
from site_deployment import Site
from test_blob_serving import Deployment, basic, digest_of

pytestmark = needs_engine_and_images

RULES = [
    {"repositories": ["base/*", "library/**"], "users": ["*"], "actions": ["pull"]},
    {"repositories": ["{user}/**"], "users": ["*"], "actions": ["pull", "push"]},
    {"repositories": ["**"], "users": ["alice"], "actions": ["pull", "push", "delete", "catalog"]},
]
DENIED = {
    "errors": [
        {
            "code": "DENIED",
            "message": "requested access to the resource is denied",
            "detail": "the access rules allow no such request",
        }
    ]
}


class Access(Deployment):
    """The deployment, as alice, bob, nobody and the anonymous port see it."""

    def __init__(self, site, anonymous_port):
        super().__init__(site)
        self.bob = basic("bob", site.passwords[1])
        self.anonymous_port = anonymous_port

    def as_bob(self, method, path, headers=None, body=None):
        return self.endpoint(method, path, {**self.bob, **(headers or {})}, body, auth=False)

    def anonymous(self, method, path, headers=None):
        import http.client

        from test_blob_serving import ask

        connection = http.client.HTTPSConnection("localhost", self.anonymous_port, context=self.ca, timeout=60)
        return ask(connection, method, path, headers)

    def push_blob_as(self, who, repository, data):
        """A monolithic upload as ``who`` (alice's or bob's headers); the digest."""
        opened = self.endpoint("POST", "/v2/%s/blobs/uploads/" % repository, {**who, "Content-Length": "0"}, auth=False)
        assert opened.status == 202, opened
        upload = urllib.parse.urlsplit(opened.headers["location"])
        digest = digest_of(data)
        query = upload.query + ("&" if upload.query else "") + "digest=" + digest
        closed = self.endpoint(
            "PUT", upload.path + "?" + query, {**who, "Content-Type": "application/octet-stream"}, data, auth=False
        )
        assert closed.status == 201, closed
        return digest


@pytest.fixture(scope="module")
def site(tmp_path_factory, ansible_environment):
    anonymous_port = unused_port()
    deployment = Site(
        "nginx_proxy",
        str(tmp_path_factory.mktemp("access")),
        ansible_environment,
        name="access",
        extra_vars={
            "registry_access": RULES,
            "registry_anonymous_pull": ["base/*"],
            "registry_anonymous_pull_port": anonymous_port,
        },
    )
    deployment.anonymous_port = anonymous_port
    deployment.remove()
    deployment.play()
    yield deployment
    deployment.remove()
    docker("rm", "-f", "privreg-test-access-image")


@pytest.fixture(scope="module")
def access(site):
    return Access(site, site.anonymous_port)


@pytest.fixture(scope="module")
def blobs(access):
    """A blob alice pushed to base/img, one to alice/private, one bob pushed to bob/app."""
    base, private, own = os.urandom(70000), os.urandom(60000), os.urandom(50000)
    return {
        "base": access.push_blob_as(access.alice, "base/img", base),
        "private": access.push_blob_as(access.alice, "alice/private", private),
        "own": access.push_blob_as(access.bob, "bob/app", own),
    }


def assert_denied(answer):
    assert answer.status == 403, answer
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["docker-distribution-api-version"] == "registry/2.0"
    if answer.body:
        assert json.loads(answer.body) == DENIED


def test_every_account_logs_in_at_the_api_root(access):
    assert access.as_bob("GET", "/v2/").status == 200
    assert access.endpoint("GET", "/v2/").status == 200


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_bob_pulls_what_every_account_may(access, blobs, method):
    answer = access.as_bob(method, "/v2/base/img/blobs/" + blobs["base"])
    assert answer.status == 200, answer
    assert answer.headers["docker-content-digest"] == blobs["base"]
    assert access.as_bob("GET", "/v2/bob/app/blobs/" + blobs["own"]).status == 200


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_bob_may_not_pull_alices_private_blob(access, blobs, method):
    assert_denied(access.as_bob(method, "/v2/alice/private/blobs/" + blobs["private"]))
    # alice may, through the same location (nginx sends it from storage).
    assert access.endpoint(method, "/v2/alice/private/blobs/" + blobs["private"]).status == 200


def test_read_only_repositories_refuse_bobs_push(access, blobs):
    assert_denied(access.as_bob("POST", "/v2/base/img/blobs/uploads/", {"Content-Length": "0"}))
    assert_denied(access.as_bob("PUT", "/v2/base/img/manifests/latest", {"Content-Length": "0"}))
    # In his own namespace he may.
    assert access.as_bob("POST", "/v2/bob/other/blobs/uploads/", {"Content-Length": "0"}).status == 202


def test_delete_and_catalog_are_alices(access, blobs):
    assert_denied(access.as_bob("DELETE", "/v2/bob/app/blobs/" + blobs["own"]))
    assert_denied(access.as_bob("GET", "/v2/_catalog"))
    catalog = access.endpoint("GET", "/v2/_catalog")
    assert catalog.status == 200
    assert {"base/img", "alice/private", "bob/app"} <= set(json.loads(catalog.body)["repositories"])
    # The registry answers alice's delete (deletes are off in its config: 405), nginx does not refuse it.
    assert access.endpoint("DELETE", "/v2/alice/private/blobs/" + blobs["private"]).status != 403


def test_a_mount_needs_pull_on_its_source(access, blobs):
    mount = "/v2/bob/app/blobs/uploads/?mount=%s&from=%s"
    assert_denied(access.as_bob("POST", mount % (blobs["private"], "alice/private"), {"Content-Length": "0"}))
    # From a repository bob may pull, the registry mounts it (201).
    assert access.as_bob("POST", mount % (blobs["base"], "base/img"), {"Content-Length": "0"}).status == 201
    # alice may mount from anywhere.
    assert access.endpoint("POST", "/v2/alice/copy/blobs/uploads/?mount=%s&from=bob/app" % blobs["own"]).status == 201


@pytest.mark.parametrize(
    "path",
    [
        # %-escapes the registry decodes into a "/" or letters
        "/v2/alice%2Fprivate/blobs/{private}",
        "/v2/alice%2fprivate/blobs/{private}",
        "/v2/%61lice/private/blobs/{private}",
        # dot segments and doubled slashes (the registry only redirects them)
        "/v2/bob/app/../../alice/private/blobs/{private}",
        "/v2/bob/app/%2E%2E/%2E%2E/alice/private/blobs/{private}",
        "/v2/bob//../alice/private/blobs/{private}",
        "/v2//alice/private/blobs/{private}",
        # case: another repository for the registry, and none a rule allows
        "/v2/ALICE/private/blobs/{private}",
        "/v2/Base/img/blobs/{base}",
        # a name that reads as two routes: tags of "bob/app/manifests/x", manifest "x" of ...
        "/v2/alice/private/manifests/bob/tags/list",
        "/v2/_catalog?n=100",
        "/v2/_catalog/",
        "/v2/%5Fcatalog",
    ],
)
def test_no_encoding_trick_reaches_what_the_rules_deny(access, blobs, path):
    answer = access.as_bob("GET", path.format(**blobs))
    assert_denied(answer)


@pytest.mark.parametrize(
    "query",
    [
        "mount={private}&from=alice/private",
        "mount={private}&from=alice%2Fprivate",
        "mount={private}&from=base/img&from=alice/private",
        "mount={private}&from=alice/private&from=base/img",
        "mount={private}&from=base/img;from=alice/private",
        "mount={private}&fr%6Fm=alice/private",
        "mount={private}&from=alice/priv%ZZate",
        "mount={private}&from=ALICE/private",
    ],
)
def test_no_query_trick_mounts_what_bob_may_not_pull(access, blobs, query):
    path = "/v2/bob/app/blobs/uploads/?" + query.format(**blobs)
    assert_denied(access.as_bob("POST", path, {"Content-Length": "0"}))


def test_a_form_body_cannot_carry_the_mount_source(access, blobs):
    """The registry reads form fields of a POST body too (Go's FormValue)."""
    body = ("mount=%s&from=alice/private" % blobs["private"]).encode()
    for content_type in ("application/x-www-form-urlencoded", "Multipart/Form-Data; boundary=x"):
        answer = access.as_bob("POST", "/v2/bob/app/blobs/uploads/", {"Content-Type": content_type}, body)
        assert_denied(answer)


def test_without_a_valid_login_it_is_401_not_403(access, blobs):
    for headers in ({}, basic("bob", "wrong"), basic("nobody", "x")):
        answer = access.endpoint("GET", "/v2/alice/private/blobs/" + blobs["private"], headers, auth=False)
        assert answer.status == 401, answer
        assert answer.headers["www-authenticate"] == 'Basic realm="Registry Realm"'


def test_the_anonymous_port_serves_the_listed_repositories_only(access, blobs):
    assert access.anonymous("GET", "/v2/").status == 200
    answer = access.anonymous("GET", "/v2/base/img/blobs/" + blobs["base"])
    assert answer.status == 200, answer
    assert digest_of(answer.body) == blobs["base"]
    assert access.anonymous("HEAD", "/v2/base/img/blobs/" + blobs["base"]).status == 200
    assert_denied(access.anonymous("GET", "/v2/alice/private/blobs/" + blobs["private"]))
    assert_denied(access.anonymous("GET", "/v2/bob/app/blobs/" + blobs["own"]))
    assert_denied(access.anonymous("POST", "/v2/base/img/blobs/uploads/", {"Content-Length": "0"}))
    assert_denied(access.anonymous("DELETE", "/v2/base/img/blobs/" + blobs["base"]))
    assert_denied(access.anonymous("GET", "/v2/_catalog"))
    assert_denied(access.anonymous("GET", "/v2/base%2Fimg/../../alice/private/blobs/" + blobs["private"]))
    # Credentials change nothing there: it never asks for them.
    assert_denied(access.anonymous("GET", "/v2/alice/private/blobs/" + blobs["private"], access.alice))


def run(*command, stdin=None, env=None):
    return subprocess.run(list(command), input=stdin, capture_output=True, text=True, env=env, check=False)


def one_layer_image(folder, size):
    """A local image FROM scratch with one layer of ``size`` random bytes (nothing to pull)."""
    folder.mkdir()
    (folder / "layer.bin").write_bytes(os.urandom(size))
    (folder / "Dockerfile").write_text("FROM scratch\nCOPY layer.bin /layer.bin\n")
    image = "privreg-test-access-image:%s" % os.urandom(4).hex()
    assert docker("build", "-q", "-t", image, str(folder)).returncode == 0
    return image


def test_the_docker_client_is_denied_and_pulls_anonymously(access, tmp_path):
    """docker push as bob to a read-only repository prints the registry's denial and does not
    retry; with no login at all, docker pulls base/* from the anonymous port."""
    image = one_layer_image(tmp_path / "context", 100000)
    endpoint = "localhost:%d" % access.site.port
    anonymous = "localhost:%d" % access.anonymous_port
    tags = [endpoint + "/base/tool:1", endpoint + "/bob/tool:1", anonymous + "/base/tool:1"]
    bob_env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "bob"))
    alice_env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "alice"))
    nobody_env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "nobody"))
    try:
        for tag in tags[:2]:
            assert docker("tag", image, tag).returncode == 0
        login = ("login", endpoint, "--username")
        assert (
            run("docker", *login, "bob", "--password-stdin", stdin=access.site.passwords[1], env=bob_env).returncode
            == 0
        )
        assert (
            run("docker", *login, "alice", "--password-stdin", stdin=access.site.passwords[0], env=alice_env).returncode
            == 0
        )

        refused = run("docker", "push", tags[0], env=bob_env)
        assert refused.returncode != 0
        assert "denied: requested access to the resource is denied" in refused.stderr, refused.stderr
        # Refused at once: the client did not retry the upload.
        assert "Retrying" not in refused.stdout, refused.stdout
        assert run("docker", "push", tags[1], env=bob_env).returncode == 0
        assert run("docker", "push", tags[0], env=alice_env).returncode == 0

        # The role made the host's docker daemon trust the anonymous port too.
        assert os.path.exists("/etc/docker/certs.d/%s/ca.crt" % anonymous)
        pulled = run("docker", "pull", tags[2], env=nobody_env)
        assert pulled.returncode == 0, pulled.stderr
        assert docker("image", "inspect", tags[2]).returncode == 0
        assert run("docker", "pull", anonymous + "/bob/tool:1", env=nobody_env).returncode != 0
    finally:
        for tag in tags:
            docker("rmi", tag)
        docker("rmi", image)


def skopeo_copy(image, destination, cert_dir, authfile=None, creds=None):
    login = ["--authfile", authfile] if authfile else ["--dest-creds", creds]
    return run("skopeo", "copy", *login, "--dest-cert-dir", cert_dir, "docker-daemon:" + image, destination)


def skopeo_inspect_anonymously(reference, cert_dir):
    return run("skopeo", "inspect", "--no-creds", "--cert-dir", cert_dir, reference)


def test_skopeo_meets_the_same_rules(access, tmp_path):
    """skopeo, the second client: bob copies into his namespace and is denied base/; without any
    login it reads base/* on the anonymous port and nothing else."""
    endpoint = "localhost:%d" % access.site.port
    anonymous = "localhost:%d" % access.anonymous_port
    image = one_layer_image(tmp_path / "context", 30000)
    authfile = str(tmp_path / "bob-auth.json")
    login = base64.b64encode(("bob:" + access.site.passwords[1]).encode()).decode()
    with open(os.open(authfile, os.O_WRONLY | os.O_CREAT, 0o600), "w") as stream:
        json.dump({"auths": {endpoint: {"auth": login}}}, stream)
    cert_dir = "/etc/docker/certs.d/" + endpoint
    try:
        copied = skopeo_copy(image, "docker://%s/bob/skopeo:1" % endpoint, cert_dir, authfile=authfile)
        assert copied.returncode == 0, copied.stderr
        refused = skopeo_copy(image, "docker://%s/base/skopeo:1" % endpoint, cert_dir, authfile=authfile)
        assert refused.returncode != 0
        assert "requested access to the resource is denied" in refused.stderr, refused.stderr
        # alice may push there; base/* is public on the anonymous port.
        alice = "alice:" + access.site.passwords[0]
        alice_copy = skopeo_copy(image, "docker://%s/base/skopeo:1" % endpoint, cert_dir, creds=alice)
        assert alice_copy.returncode == 0, alice_copy.stderr
        anonymous_dir = "/etc/docker/certs.d/" + anonymous
        public = skopeo_inspect_anonymously("docker://%s/base/skopeo:1" % anonymous, anonymous_dir)
        assert public.returncode == 0, public.stderr
        private = skopeo_inspect_anonymously("docker://%s/bob/skopeo:1" % anonymous, anonymous_dir)
        assert private.returncode != 0
        assert "denied" in private.stderr, private.stderr
    finally:
        docker("rmi", image)


def file_state(site):
    """What a failed run must leave as it was: the live nginx.conf, the rules (njs's and nginx's), the container."""
    folder = os.path.join(site.base_dir, "nginx")
    texts = {name: open(os.path.join(folder, name)).read() for name in ("nginx.conf", "access.json", "access.conf")}
    started = docker("inspect", "-f", "{{.State.StartedAt}}", site.containers[1]).stdout
    return texts, started


def rerun_with(site, **variables):
    """site.yml again with ``variables`` in place of the module's extra vars."""
    extra = os.path.join(site.workdir, "access-override.json")
    with open(extra, "w") as stream:
        json.dump(variables, stream)
    return site.run("-e", "@" + extra)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"registry_access": [{"repositories": ["**"], "users": ["carol"], "actions": ["pull"]}]},
            'user "carol" is not in registry_users',
        ),
        ({"registry_access": [{"repositories": ["**"], "users": ["*"], "actions": ["read"]}]}, "read"),
        ({"registry_access": [{"repositories": ["Base/*"], "users": ["*"], "actions": ["pull"]}]}, "lower"),
        ({"registry_access": [{"repositories": ["a//b"], "users": ["*"], "actions": ["pull"]}]}, "registry_access[0]"),
        ({"registry_anonymous_pull": ["{user}/x"]}, "{user}"),
    ],
)
def test_bad_rules_fail_before_anything_changes(site, access, blobs, variables, message):
    before = file_state(site)
    rc, _changed, failed, output = rerun_with(site, **variables)
    assert rc != 0 and failed >= 1
    assert message in output, output[-3000:]
    assert "registry_access" in output or "registry_anonymous_pull" in output
    assert file_state(site) == before
    # Still the old rules.
    assert_denied(access.as_bob("GET", "/v2/alice/private/blobs/" + blobs["private"]))


def test_new_rules_apply_on_rerun_without_a_restart(site, access, blobs):
    _texts, started = file_state(site)
    conf_before = _texts["nginx.conf"]
    opened = RULES + [{"repositories": ["alice/private"], "users": ["bob"], "actions": ["pull"]}]
    rc, changed, failed, output = rerun_with(site, registry_access=opened)
    assert (rc, failed) == (0, 0), output[-5000:]
    assert changed >= 1
    texts, started_after = file_state(site)
    # Only the rules files changed (and nginx reloaded them): nginx neither restarted nor got a new nginx.conf.
    assert started_after == started
    assert texts["nginx.conf"] == conf_before
    assert texts["access.conf"] != _texts["access.conf"]
    assert access.as_bob("GET", "/v2/alice/private/blobs/" + blobs["private"]).status == 200
    # The same through njs (an escaped path is no plain pull): it reloaded the rules too.
    assert access.as_bob("GET", "/v2/alice%2Fprivate/blobs/" + blobs["private"]).status == 200
    # Again with the same rules: nothing to change.
    rc, changed, failed, output = rerun_with(site, registry_access=opened)
    assert (rc, failed, changed) == (0, 0, 0), output[-5000:]
    # Back to the module's rules.
    rc, _changed, failed, output = rerun_with(site, registry_access=RULES)
    assert (rc, failed) == (0, 0), output[-5000:]
    assert_denied(access.as_bob("GET", "/v2/alice/private/blobs/" + blobs["private"]))
    assert_denied(access.as_bob("GET", "/v2/alice%2Fprivate/blobs/" + blobs["private"]))


def test_the_native_topology_refuses_rules(tmp_path, ansible_environment):
    native = Site(
        "native",
        str(tmp_path),
        ansible_environment,
        name="access",
        extra_vars={"registry_access": RULES},
    )
    try:
        rc, _changed, failed, output = native.run()
        assert rc != 0 and failed >= 1
        assert "registry_topology: nginx_proxy" in output, output[-3000:]
        assert native.existing_containers() == []
    finally:
        native.remove()
