"""Each public role applied on its own, as a sysadmin does in a play of his own
(`roles: [privreg.registry.<role>]`), without playbooks/site.yml: a topology
the role does not deploy fails before the host changes, and so does an
unknown one or applying the internal role privreg.registry._common.

That each role alone deploys its topology (no registry_topology), that the
docker CLI pushes and pulls through it and that its re-run changes nothing
are the Molecule scenarios native and nginx_proxy: their converge is such a
play (molecule/<scenario>/converge.yml), their idempotence step its re-run.
Names are privreg-test-alone-*, with an nginx group of each play's own.
"""

import json
import os
import re
import secrets
import subprocess
import sys

import pytest
from local_engine import (
    NGINX_IMAGE,
    REGISTRY_IMAGE,
    docker,
    needs_engine_and_images,
    unused_port,
)

RECAP = re.compile(r"^localhost\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)", re.M)
pytestmark = needs_engine_and_images
PASSWORD = "alone: p@ss \"w0rd\" ü"


class RolePlay:
    """A play of the user's own that applies one public role to this host."""

    def __init__(self, role, workdir, env, name=None):
        self.role = role
        self.env = env
        self.port = unused_port()
        self.health_port = unused_port()
        self.base_dir = os.path.join(workdir, "registry")
        prefix = "privreg-test-alone-%s" % (name or role).replace("_", "-")
        # a group of its own: no deployment beside this one creates or deletes it
        self.nginx_group = "privreg-ngx-%s" % secrets.token_hex(4)
        self.registry = prefix + "-registry"
        self.nginx = prefix + "-nginx"
        self.network = prefix + "-net"
        self.playbook = os.path.join(workdir, "play.yml")
        self.secrets = os.path.join(workdir, "secrets.json")
        fd = os.open(self.secrets, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as stream:
            json.dump({"registry_users": [{"name": "alice", "password": PASSWORD}]}, stream)

    def run(self, role=None, **extra_vars):
        role_vars = {
            "registry_host": "localhost",
            "registry_port": self.port,
            "registry_bind_address": "127.0.0.1",
            "registry_base_dir": self.base_dir,
            "registry_container_name": self.registry,
            "registry_nginx_container_name": self.nginx,
            "registry_nginx_health_port": self.health_port,
            "registry_network_name": self.network,
            "registry_image": REGISTRY_IMAGE,
            "registry_nginx_image": NGINX_IMAGE,
            "registry_nginx_group": self.nginx_group,
            "registry_bcrypt_cost": 10,
            **extra_vars,
        }
        play = [
            {
                "name": "A play of the user's own",
                "hosts": "localhost",
                "gather_facts": False,
                "vars": {"ansible_python_interpreter": sys.executable},
                "roles": [{"role": "privreg.registry.%s" % (role or self.role), "vars": role_vars}],
            }
        ]
        with open(self.playbook, "w") as stream:
            json.dump(play, stream)
        done = subprocess.run(
            ["ansible-playbook", "-e", "@" + self.secrets, self.playbook],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        recap = RECAP.search(done.stdout)
        assert recap, done.stdout[-3000:] + done.stderr[-3000:]
        return done.returncode, int(recap.group(1)), done.stdout + done.stderr

    def inspect(self, name):
        done = docker("container", "inspect", name)
        return json.loads(done.stdout)[0] if done.returncode == 0 else None


OTHER = {"registry_native": "nginx_proxy", "registry_nginx_proxy": "native"}


@pytest.mark.parametrize("role", sorted(OTHER))
def test_a_topology_the_role_does_not_deploy_fails_before_the_host_changes(role, tmp_path, ansible_environment):
    play = RolePlay(role, str(tmp_path), ansible_environment, name="refused-" + role)
    rc, changed, output = play.run(registry_topology=OTHER[role])
    assert rc != 0 and changed == 0
    assert "registry_topology is %s, but this role deploys the" % OTHER[role] in output
    assert "Apply privreg.registry.registry_%s instead" % OTHER[role] in output
    assert not os.path.exists(play.base_dir)
    assert play.inspect(play.registry) is None and play.inspect(play.nginx) is None


def test_an_unknown_topology_fails_in_the_argument_spec(tmp_path, ansible_environment):
    play = RolePlay("registry_native", str(tmp_path), ansible_environment, name="refused-unknown")
    rc, changed, output = play.run(registry_topology="proxy")
    assert rc != 0 and changed == 0
    assert "value of registry_topology must be one of: native, nginx_proxy, got: proxy" in output
    assert not os.path.exists(play.base_dir)


def test_the_internal_role_is_not_an_entry_point(tmp_path, ansible_environment):
    play = RolePlay("registry_native", str(tmp_path), ansible_environment, name="refused-common")
    rc, changed, output = play.run(role="_common")
    assert rc != 0 and changed == 0
    assert "privreg.registry._common is internal: apply privreg.registry.registry_native" in output
    assert not os.path.exists(play.base_dir)
