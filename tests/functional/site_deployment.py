"""A deployment of playbooks/site.yml on this host with names of its own
(privreg-test-<name>-*, and an nginx group of its own), for the functional tests that run the whole
playbook. Tests run side by side (pytest-xdist, Molecule, the test bed) on one engine and one host:
nothing here is named or created that another deployment could share."""

import json
import os
import re
import secrets
import shutil
import subprocess
import sys

import pytest
from local_engine import NGINX_IMAGE, REGISTRY_IMAGE, docker, unused_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SITE = os.path.join(ROOT, "playbooks", "site.yml")
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class Site:
    """One deployment of site.yml on this host, with names of its own."""

    def __init__(self, topology, workdir, env, name, extra_vars=None):
        self.topology = topology
        self.env = env
        self.workdir = workdir
        self.port = unused_port()
        self.base_dir = os.path.join(workdir, "registry")
        prefix = "privreg-test-%s-%s" % (name, topology.replace("_", "-"))
        self.containers = ["%s-registry" % prefix, "%s-nginx" % prefix]
        self.network = "%s-net" % prefix
        # The role creates this group (nginx reads the accounts through it): one of its own, so that no
        # deployment running beside this one creates or deletes it, and a fresh host's plan really adds it.
        self.nginx_group = "privreg-ngx-%s" % secrets.token_hex(4)
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
            # nginx shares the host's network: a health port of this deployment's own.
            "registry_nginx_health_port": unused_port(),
            "registry_network_name": self.network,
            "registry_image": REGISTRY_IMAGE,
            "registry_nginx_image": NGINX_IMAGE,
            "registry_nginx_group": self.nginx_group,
            "registry_bcrypt_cost": 10,
            **(extra_vars or {}),
        }
        with open(self.inventory, "w") as stream:
            json.dump({"registry": {"hosts": {"localhost": host_vars}}}, stream)
        # secrets go in a 0600 file, never on the command line
        fd = os.open(self.accounts, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as stream:
            json.dump(
                {
                    "registry_users": [
                        {"name": "alice", "password": self.passwords[0]},
                        {"name": "bob", "password": self.passwords[1]},
                    ]
                },
                stream,
            )

    def run(self, *args, playbook=SITE, env=None):
        """ansible-playbook of ``playbook`` (site.yml of this checkout) on this deployment;
        ``env`` replaces the environment (another collection path, say). Returns
        (return code, changed, failed, output)."""
        command = ["ansible-playbook", "-i", self.inventory, "-e", "@" + self.accounts, playbook, *args]
        done = subprocess.run(command, env=env or self.env, capture_output=True, text=True, timeout=900, check=False)
        recap = RECAP.search(done.stdout)
        assert recap, "no play recap:\n%s\n%s" % (done.stdout[-3000:], done.stderr[-3000:])
        ok, changed, unreachable, failed = (int(n) for n in recap.groups())
        assert unreachable == 0, done.stdout[-5000:] + done.stderr[-3000:]
        return done.returncode, changed, failed, done.stdout + done.stderr

    def play(self, *args, playbook=SITE, env=None):
        """Like run(), and fails the test on a failed run. Returns (changed, output)."""
        rc, changed, failed, output = self.run(*args, playbook=playbook, env=env)
        assert (failed, rc) == (0, 0), output[-8000:]
        return changed, output

    def existing_containers(self):
        return [name for name in self.containers if docker("container", "inspect", name).returncode == 0]

    def remove(self):
        for name in self.containers:
            docker("rm", "-f", "-v", name)
        docker("volume", "rm", self.containers[0] + "-socket")
        docker("network", "rm", self.network)
        shutil.rmtree(self.certs_d, ignore_errors=True)
        shutil.rmtree(self.base_dir, ignore_errors=True)
        subprocess.run(["groupdel", self.nginx_group], capture_output=True, check=False)


def worker_id():
    """The pytest-xdist worker running this session (gw0, gw1...), "main" without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


class SharedSites:
    """One deployment of site.yml's default configuration per topology, for the whole session of a worker.

    The first ask for a topology deploys it, in this order, and records each step (the check-mode and
    secrets tests read the records, whichever module asks first): leftovers of an earlier session removed;
    ``--check --diff`` on the fresh host (``fresh_check``: changed, output); what that left behind
    (``fresh_leftovers``: must be nothing); the converge at -vvv (``converge_output``).

    A test that changes the deployment puts it back with ``restore()`` (a converge with the default
    vars) in a finally, so the next test finds the default configuration. No test may rely on what
    another module pushed: each pushes to repositories of its own.
    """

    def __init__(self, tmp_path_factory, env):
        self.tmp_path_factory = tmp_path_factory
        self.env = env
        self.sites = {}

    def get(self, topology):
        if topology not in self.sites:
            workdir = str(self.tmp_path_factory.mktemp("shared-" + topology))
            site = Site(topology, workdir, self.env, name="shared-%s" % worker_id())
            self.sites[topology] = site
            site.remove()
            site.fresh_check = site.play("--check", "--diff")
            site.fresh_leftovers = {
                "containers": site.existing_containers(),
                "network": docker("network", "inspect", site.network).returncode == 0,
                "base_dir": os.path.exists(site.base_dir),
                "certs_d": os.path.exists(site.certs_d),
            }
            site.converge_output = site.play("-vvv")[1]
        return self.sites[topology]

    def remove(self):
        for site in self.sites.values():
            site.remove()


def restore(site):
    """Put a shared deployment back to the default configuration (after a test changed it)."""
    site.play()


def shared(topology):
    """A fixture param for a topology's shared deployment: marked so that pytest-xdist keeps every test of
    that deployment on the one worker that made it."""
    return pytest.param(topology, marks=pytest.mark.xdist_group("shared-" + topology), id=topology)
