"""What the tests on the test bed share: its hosts (read from the inventory
scripts/testbed.sh up writes), commands run on them over SSH, the local images,
and the ansible environment of the functional tests."""

import importlib.util
import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTBED = os.path.join(ROOT, "scripts", "testbed.sh")
TESTBED_DIR = os.environ.get("PRIVREG_TESTBED_DIR", os.path.join(ROOT, ".tmp", "testbed"))
REGISTRY_IMAGE = "privreg/registry:2.8.2-debian"
NGINX_IMAGE = "privreg/nginx:1.22-debian"
CLIENT = "privreg-testbed-client"


def _functional_conftest():
    """tests/functional/conftest.py under a name of its own: its ansible_env is the
    environment of every ansible run of the tests, these too."""
    path = os.path.join(ROOT, "tests", "functional", "conftest.py")
    spec = importlib.util.spec_from_file_location("privreg_functional_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The functional tests' helpers (storage_servers: real S3 and Redis servers;
# what their conftest imports).
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
ansible_env = _functional_conftest().ansible_env


class Testbed:
    """The hosts of the test bed's inventory, and commands run on them over SSH."""

    def __init__(self, inventory):
        with open(inventory) as stream:
            document = yaml.safe_load(stream)["all"]
        self.connection = {k: v for k, v in document["vars"].items() if k.startswith("ansible_")}
        self.controller_address = document["vars"]["testbed_controller_address"]
        self.hosts = document["hosts"]

    def host_of(self, release):
        """The name of the registry host of a Debian release (not the client)."""
        names = [name for name, host in self.hosts.items() if host["testbed_release"] == release and name != CLIENT]
        assert names, "no test bed host runs %s" % release
        return names[0]

    def address(self, name):
        return self.hosts[name]["ansible_host"]

    def ssh_command(self, name, command):
        """The ssh command line that runs a shell command on a host as the ssh user."""
        args = ["ssh", "-i", self.connection["ansible_ssh_private_key_file"], "-o", "BatchMode=yes"]
        args += self.connection["ansible_ssh_common_args"].split()
        return args + ["-o", "LogLevel=ERROR", "%s@%s" % (self.connection["ansible_user"], self.address(name)), command]

    def ssh(self, name, command, stdin=None, timeout=300):
        """Runs a shell command on a host as the ssh user (sudo is the command's business)."""
        return subprocess.run(
            self.ssh_command(name, command), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )

    def must(self, name, command, stdin=None):
        done = self.ssh(name, command, stdin=stdin)
        assert done.returncode == 0, "%s: %s failed:\n%s%s" % (name, command, done.stdout, done.stderr)
        return done.stdout
