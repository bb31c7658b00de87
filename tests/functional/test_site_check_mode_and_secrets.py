"""playbooks/site.yml on this host, as a sysadmin runs it: check mode first,
then a verbose converge, then check mode again.

- `--check --diff` on a fresh host reports a plan and leaves nothing behind:
  no container, no network, no file, no certs.d folder;
- a converge at -vvv with known passwords and a generated key leaks neither:
  not in ansible's output, not in any file outside auth/ and certs/, not in
  `docker inspect` of the containers;
- `--check --diff` on the converged host has nothing to do.

Each topology gets its own names (privreg-molecule-site-*) and port, and is
removed at the end.
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SITE = os.path.join(ROOT, "playbooks", "site.yml")
REGISTRY_IMAGE = "privreg/registry:2.8.2-debian"
NGINX_IMAGE = "privreg/nginx:1.22-debian"
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


def engine_answers():
    return shutil.which("docker") is not None and docker("info").returncode == 0


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not engine_answers(), reason="no Docker engine answers (scripts/ensure-docker.sh starts one)"),
    pytest.mark.skipif(
        engine_answers() and docker("image", "inspect", REGISTRY_IMAGE).returncode != 0,
        reason="local images missing: run scripts/build-images.sh",
    ),
]


def unused_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Site:
    """One deployment of site.yml on this host, with names of its own."""

    def __init__(self, topology, workdir, env):
        self.topology = topology
        self.env = env
        self.workdir = workdir
        self.port = unused_port()
        self.base_dir = os.path.join(workdir, "registry")
        prefix = "privreg-molecule-site-%s" % topology.replace("_", "-")
        self.containers = ["%s-registry" % prefix, "%s-nginx" % prefix]
        self.network = "%s-net" % prefix
        self.certs_d = "/etc/docker/certs.d/localhost:%d" % self.port
        # passwords no log may show: random, with the characters that trip quoting
        self.passwords = ["alpha %s '\"$x\\" % secrets.token_hex(8), "beta-%s-ü" % secrets.token_hex(8)]
        self.inventory = os.path.join(workdir, "inventory.yml")
        self.accounts = os.path.join(workdir, "accounts.yml")
        host_vars = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "registry_host": "localhost",
            "registry_port": self.port,
            "registry_bind_address": "127.0.0.1",
            "registry_topology": topology,
            "registry_base_dir": self.base_dir,
            "registry_container_name": self.containers[0],
            "registry_nginx_container_name": self.containers[1],
            "registry_network_name": self.network,
            "registry_image": REGISTRY_IMAGE,
            "registry_nginx_image": NGINX_IMAGE,
            "registry_bcrypt_cost": 5,
        }
        with open(self.inventory, "w") as stream:
            json.dump({"registry": {"hosts": {"localhost": host_vars}}}, stream)
        # secrets go in a 0600 file, never on the command line
        fd = os.open(self.accounts, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as stream:
            json.dump({"registry_users": [{"name": "alice", "password": self.passwords[0]},
                                          {"name": "bob", "password": self.passwords[1]}]}, stream)

    def play(self, *args):
        command = ["ansible-playbook", "-i", self.inventory, "-e", "@" + self.accounts, SITE, *args]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=900, check=False)
        recap = RECAP.search(done.stdout)
        assert recap, "no play recap:\n%s\n%s" % (done.stdout[-3000:], done.stderr[-3000:])
        ok, changed, unreachable, failed = (int(n) for n in recap.groups())
        assert (unreachable, failed, done.returncode) == (0, 0, 0), done.stdout[-5000:] + done.stderr[-3000:]
        return changed, done.stdout + done.stderr

    def existing_containers(self):
        return [name for name in self.containers if docker("container", "inspect", name).returncode == 0]

    def remove(self):
        for name in self.containers:
            docker("rm", "-f", "-v", name)
        docker("network", "rm", self.network)
        shutil.rmtree(self.certs_d, ignore_errors=True)
        shutil.rmtree(self.base_dir, ignore_errors=True)


@pytest.fixture(scope="module", params=["nginx_proxy", "native"])
def site(request, tmp_path_factory, ansible_environment):
    deployment = Site(request.param, str(tmp_path_factory.mktemp(request.param)), ansible_environment)
    deployment.remove()
    yield deployment
    deployment.remove()


@pytest.fixture(scope="module")
def converged(site):
    """Runs in order: check mode on the fresh host, then the verbose converge."""
    site.fresh_check = site.play("--check", "--diff")
    site.fresh_leftovers = {
        "containers": site.existing_containers(),
        "network": docker("network", "inspect", site.network).returncode == 0,
        "base_dir": os.path.exists(site.base_dir),
        "certs_d": os.path.exists(site.certs_d),
    }
    site.converge_output = site.play("-vvv")[1]
    return site


def test_check_mode_on_a_fresh_host_reports_a_plan_and_changes_nothing(converged):
    changed = converged.fresh_check[0]
    assert changed > 0
    assert converged.fresh_leftovers == {"containers": [], "network": False, "base_dir": False, "certs_d": False}


def test_verbose_converge_output_shows_no_password_or_key(converged):
    assert converged.existing_containers()
    key_lines = []
    for dirpath, _dirnames, names in os.walk(os.path.join(converged.base_dir, "certs")):
        for name in names:
            with open(os.path.join(dirpath, name), errors="replace") as stream:
                text = stream.read()
            if "PRIVATE KEY" in text:
                key_lines += [line for line in text.splitlines() if line and "-----" not in line]
    assert key_lines, "no generated private key found under certs/"
    for secret in converged.passwords + key_lines:
        assert secret not in converged.converge_output


def test_no_password_in_files_outside_auth_and_certs(converged):
    for dirpath, dirnames, names in os.walk(converged.base_dir):
        if dirpath == converged.base_dir:
            dirnames[:] = [d for d in dirnames if d not in ("auth", "certs")]
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as stream:
                content = stream.read()
            for password in converged.passwords:
                assert password.encode() not in content, os.path.join(dirpath, name)


def test_no_password_in_docker_inspect(converged):
    for name in converged.existing_containers():
        inspect = docker("container", "inspect", name).stdout
        for password in converged.passwords:
            assert password not in inspect
            assert json.dumps(password)[1:-1] not in inspect


def test_check_mode_on_the_converged_host_has_nothing_to_do(converged):
    changed, output = converged.play("--check", "--diff")
    assert changed == 0, output[-5000:]
