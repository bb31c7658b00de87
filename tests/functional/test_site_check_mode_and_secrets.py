"""playbooks/site.yml on this host, as a sysadmin runs it: check mode first,
then a verbose converge.

- `--check --diff` on a fresh host reports a plan and leaves nothing behind:
  no container, no network, no file, no certs.d folder;
- a converge at -vvv with known passwords and a generated key leaks neither:
  not in ansible's output, not in any file outside auth/ and certs/, not in
  `docker inspect` of the containers.

`--check --diff` on a converged host having nothing to do is the remote
Molecule scenarios' (test_check_mode_on_the_converged_host_changes_nothing,
both topologies, both test bed hosts).

The deployments are the session's shared ones (site_deployment.SharedSites),
whose first deployment runs and records the fresh check, its leftovers and the
verbose converge, whichever module asks first.
"""

import json
import os

import pytest
from local_engine import docker, needs_engine_and_images
from site_deployment import shared

pytestmark = needs_engine_and_images


@pytest.fixture(scope="module", params=[shared("nginx_proxy"), shared("native")])
def converged(request, shared_sites):
    """The shared deployment, with the records of its first deployment: check mode on the fresh host,
    what it left behind, then the verbose converge."""
    return shared_sites.get(request.param)


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
