"""A client of a site.yml deployment (site_deployment.Site) for the functional tests: the docker CLI with a
config of its own, logged in as alice, and plain HTTPS with alice's login for what the CLI hides (manifests,
deletes, a blob read at the test's own pace)."""

import base64
import http.client
import json
import os
import secrets
import ssl
import subprocess

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


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

    def delete_manifest(self, repository, digest):
        connection, response = self.request("DELETE", "/v2/%s/manifests/%s" % (repository, digest))
        response.read()
        connection.close()
        assert response.status == 202, response.status

    def put_manifest(self, repository, reference, body):
        """(status, the error codes of the answer)."""
        connection, response = self.request(
            "PUT", "/v2/%s/manifests/%s" % (repository, reference), body=body, headers={"Content-Type": MANIFEST_V2}
        )
        answer = response.read().decode()
        connection.close()
        codes = [error["code"] for error in json.loads(answer).get("errors", [])] if answer.strip() else []
        return response.status, codes
