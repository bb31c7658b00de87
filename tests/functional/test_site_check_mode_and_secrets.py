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

import pytest
from local_engine import docker, needs_engine_and_images
from site_deployment import Site

pytestmark = needs_engine_and_images


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
