"""Fixtures and steps every Molecule scenario's tests share.

A scenario's tests (or its tests/conftest.py) import what they use::

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))
    from scenario import client, conf, endpoint, users  # noqa: F401  (pytest fixtures)
    from scenario import converge, push_pull_round_trip, started_at, task_status

Fixtures (module scope):
    conf      the scenario's variables (molecule.yml group_vars over .config/molecule/config.yml)
    users     {name: password} of conf["registry_users"]
    endpoint  what clients type: host, then ``:port`` unless 443 (the collection's own rule)
    client    a RegistryClient (registry_client.py) for that endpoint, with its own docker config

Steps:
    converge(extra_vars, tmp_path)  run the scenario's converge playbook again, as Molecule does
    task_status(output, task_name)  ok / changed / skipping of a task in that run's output
    started_at(host, container)     the container's State.StartedAt (restarts change it)
    push_pull_round_trip(...)       login, push a multi-layer image, remove, pull back, logout, denied
"""

import os
import subprocess

import pytest
import yaml
from registry_client import RegistryClient

from ansible_collections.privreg.registry.plugins.module_utils._endpoint import endpoint as client_endpoint


@pytest.fixture(scope="module")
def conf(host):
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def users(conf):
    return {user["name"]: user["password"] for user in conf["registry_users"]}


@pytest.fixture(scope="module")
def endpoint(conf):
    return client_endpoint(conf["registry_host"], conf["registry_port"])


@pytest.fixture(scope="module")
def client(host, conf, endpoint, tmp_path_factory):
    return RegistryClient(
        host, endpoint, f"{conf['registry_base_dir']}/certs/ca.crt", str(tmp_path_factory.mktemp("docker-config")))


def started_at(host, name):
    return host.check_output("docker inspect -f '{{.State.StartedAt}}' %s", name)


def converge(extra_vars, tmp_path):
    """Run the scenario's converge.yml with its inventory; ``extra_vars`` go through a 0600 file.

    Returns ansible-playbook's output; fails with its tail when the run fails.
    """
    extra = tmp_path / "extra-vars.yml"
    extra.touch(mode=0o600)
    extra.write_text(yaml.safe_dump(extra_vars))
    run = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "converge.yml"), "-e", f"@{extra}"],
        capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return run.stdout


def task_status(output, task_name):
    """The status word (ok, changed, skipping, failed) printed for the task named ``task_name``."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("TASK [") and f": {task_name}]" in line:
            return next(line for line in lines[index + 1:] if line.strip()).split(":", 1)[0]
    raise AssertionError(f"task {task_name!r} not in the output")


def push_pull_round_trip(client, user, password, repository, layers=3, kib_per_layer=256):
    """What a user does, with the real docker CLI; returns ``(ref, repo_digests)``.

    Builds ``<endpoint>/<repository>:1`` with ``layers`` random layers, logs in,
    pushes (every layer must reach the registry: on a wrong port a push breaks
    after the first layers), removes the local image, pulls it back (same
    digest), logs out; then a pull is refused: the CLI fails and the registry
    answers 401 to an anonymous manifest request, 200 with the credentials.
    The image is left in the registry, not on the client.
    """
    ref, layer_count = client.build_multilayer_image(repository, layers=layers, kib_per_layer=kib_per_layer)
    assert layer_count == layers, f"built {layer_count} layers, wanted {layers}"

    login = client.login(user, password)
    assert login.rc == 0, login.stderr
    pushed = client.push(ref)
    assert pushed.rc == 0, pushed.stdout + pushed.stderr
    assert pushed.stdout.count(": Pushed") == layers, pushed.stdout
    digests = client.repo_digest(ref)

    assert client.remove_image(ref).rc == 0
    pulled = client.pull(ref)
    assert pulled.rc == 0, pulled.stderr
    assert client.repo_digest(ref) == digests

    assert client.logout().rc == 0
    assert client.endpoint not in client.logged_in_users()
    assert client.remove_image(ref).rc == 0
    denied = client.pull(ref)
    assert denied.rc != 0, "an anonymous docker pull succeeded"
    assert client.manifest_status(repository, "1") == 401
    assert client.manifest_status(repository, "1", user, password) == 200
    return ref, digests
