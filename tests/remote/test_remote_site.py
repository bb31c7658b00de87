"""playbooks/site.yml over SSH on the test bed's hosts (scripts/testbed.sh):
as `deploy` with become, with the host's own /usr/bin/python3, images loaded
from archives copied from the controller. For each Debian release and each
topology: the deployment converges (a re-run and --check change nothing), and
the docker client of another host, trusting the CA as the README says, logs
in, pushes and pulls over the network."""

import json
import os
import re
import secrets
import subprocess

import pytest
from testbed_hosts import CLIENT, NGINX_IMAGE, REGISTRY_IMAGE, ROOT, ansible_env

SITE = os.path.join(ROOT, "playbooks", "site.yml")
PORT = 5443
RELEASES = ["bookworm", "trixie"]
TOPOLOGIES = ["nginx_proxy", "native"]

pytestmark = pytest.mark.slow


class RemoteSite:
    """One deployment of site.yml on one test bed host, over SSH."""

    def __init__(self, testbed, release, topology, archives, workdir):
        self.testbed = testbed
        self.host = testbed.host_of(release)
        self.address = testbed.address(self.host)
        self.endpoint = "%s:%d" % (self.address, PORT)
        self.label = "%s %s" % (release, topology)
        self.password = "alpha %s '\"$x\\" % secrets.token_hex(8)
        self.inventory = str(workdir / "inventory.json")
        self.accounts = str(workdir / "accounts.json")
        host_vars = {
            **testbed.connection,
            "ansible_host": self.address,
            # the certificate covers the address the client uses
            "registry_host": self.address,
            "registry_port": PORT,
            "registry_topology": topology,
            "registry_image": REGISTRY_IMAGE,
            "registry_nginx_image": NGINX_IMAGE,
            "registry_image_archive": archives["registry"],
            "registry_nginx_image_archive": archives["nginx"],
        }
        with open(self.inventory, "w") as stream:
            json.dump({"registry": {"hosts": {self.host: host_vars}}}, stream)
        # secrets go in a 0600 file, never on the command line
        fd = os.open(self.accounts, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as stream:
            json.dump({"registry_users": [{"name": "alice", "password": self.password}]}, stream)

    def play(self, *args):
        """ansible-playbook site.yml; fails the test on a failed run. Returns (changed, output)."""
        command = ["ansible-playbook", "-i", self.inventory, "-e", "@" + self.accounts, SITE, *args]
        done = subprocess.run(command, env=ansible_env(), capture_output=True, text=True, timeout=900, check=False)
        output = done.stdout + done.stderr
        recap = re.search(
            r"^%s\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)" % re.escape(self.host),
            done.stdout,
            re.M,
        )
        assert recap, "no play recap:\n%s" % output[-8000:]
        changed, unreachable, failed = (int(n) for n in recap.groups())
        assert (unreachable, failed, done.returncode) == (0, 0, 0), output[-8000:]
        return changed, output


@pytest.fixture(scope="module", params=[(r, t) for r in RELEASES for t in TOPOLOGIES], ids="-".join)
def site(request, testbed, image_archives, tmp_path_factory, timed):
    """A converged deployment; one per (release, topology), switching topology on the same host."""
    release, topology = request.param
    workdir = tmp_path_factory.mktemp(topology)
    deployment = RemoteSite(testbed, release, topology, image_archives, workdir)
    _changed, output = timed("deploy %s" % deployment.label, deployment.play)
    # what the first run did on the host (interpreter, apt, image loads), to read after a run
    (workdir / "deploy.log").write_text(output)
    return deployment


def changed_tasks(output):
    return "\n".join(line for line in output.splitlines() if line.startswith("changed:"))


def test_rerun_changes_nothing(site, timed):
    changed, output = timed("re-run %s" % site.label, site.play)
    assert changed == 0, changed_tasks(output) or output[-5000:]


def test_check_mode_changes_nothing(site, timed):
    changed, output = timed("--check %s" % site.label, site.play, "--check")
    assert changed == 0, changed_tasks(output) or output[-5000:]


def test_the_client_host_pushes_and_pulls(site, testbed, timed):
    """The README's "Trusting the registry on other docker hosts", on another host."""
    assert testbed.address(CLIENT) != site.address
    # the CA as any account on the registry host reads it (scp in the README)
    ca = testbed.must(site.host, "cat /opt/registry/certs/ca.crt")
    certs_d = "/etc/docker/certs.d/%s" % site.endpoint
    testbed.must(CLIENT, "sudo install -D -m 0644 /dev/stdin %s/ca.crt" % certs_d, stdin=ca)
    testbed.must(CLIENT, "sudo docker login -u alice --password-stdin %s" % site.endpoint, stdin=site.password)

    # A tiny image of its own content, built FROM scratch (nothing to pull).
    image = "%s/testbed/tiny:%s" % (site.endpoint, site.label.replace(" ", "-"))
    mark = secrets.token_hex(16)
    built = testbed.must(
        CLIENT,
        "set -e; d=$(mktemp -d); trap 'rm -rf $d' EXIT; echo %s >$d/mark; "
        "printf 'FROM scratch\\nCOPY mark /mark\\n' >$d/Dockerfile; "
        "sudo docker build -q -t %s $d" % (mark, image),
    ).strip()

    def push_rmi_pull():
        testbed.must(CLIENT, "sudo docker push %s" % image)
        testbed.must(CLIENT, "sudo docker rmi %s" % image)
        testbed.must(CLIENT, "sudo docker pull %s" % image)

    timed("push, rmi, pull %s" % site.label, push_rmi_pull)
    pulled = testbed.must(CLIENT, "sudo docker image inspect -f '{{.Id}}' %s" % image).strip()
    assert pulled == built
    testbed.must(CLIENT, "sudo docker rmi %s" % image)
