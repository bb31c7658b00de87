"""Fixtures and steps every Molecule scenario's tests share.

A scenario's tests (or its tests/conftest.py) import what they use (pytest.ini
puts molecule/shared on the path)::

    from privreg_molecule.scenario import client, conf, endpoint, users  # noqa: F401  (pytest fixtures)
    from privreg_molecule.scenario import converge, push_pull_round_trip, started_at, task_status

Fixtures (module scope):
    conf      the scenario's variables (molecule.yml group_vars over .config/molecule/config.yml)
    users     {name: password} of conf["registry_users"]
    endpoint  what clients type: host, then ``:port`` unless 443 (the collection's own rule)
    client    a RegistryClient (registry_client.py) for that endpoint, with its own docker config
    inventory Molecule's inventory folder (inventory_folder)

Steps:
    converge(extra_vars, tmp_path, *options)  run the scenario's converge playbook again, as Molecule does
    inventory_folder()              the inventory Molecule runs its playbooks with
    converge_playbook()             that playbook's path (.config/molecule/converge.yml)
    recap(output)                   the PLAY RECAP counters of that run
    recaps(output)                  the same for every host of the run
    task_status(output, task_name)  ok / changed / skipping of a task in that run's output
    task_result(output, task_name)  the result that task printed (a debug task's msg), parsed
    started_at(host, container)     the container's State.StartedAt (restarts change it)
    wait_until_healthy(host, name)  the container's State.Health once it says healthy (bounded wait)
    push_pull_round_trip(...)       login, push a multi-layer image, remove, pull back, logout, denied
"""

import json
import os
import subprocess
import textwrap
import time

import pytest
import yaml

from ansible_collections.privreg.registry.plugins.module_utils._endpoint import endpoint as client_endpoint
from privreg_molecule.registry_client import RegistryClient


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
        host, endpoint, f"{conf['registry_base_dir']}/certs/ca.crt", str(tmp_path_factory.mktemp("docker-config"))
    )


def started_at(host, name):
    return host.check_output("docker inspect -f '{{.State.StartedAt}}' %s", name)


def wait_until_healthy(host, name, timeout=300, pause=2):
    """Wait for the container's health check to say "healthy"; return ``State.Health`` as docker shows it last.

    Docker runs the first check one interval after the start (30 s for the
    role's registry), and a loaded machine delays it more: the wait ends as
    soon as the status is "healthy", else after ``timeout`` seconds. Returns
    at once (None) for a container without a health check. The caller
    asserts the status; the returned log says why a check failed.
    """
    deadline = time.monotonic() + timeout
    while True:
        health = json.loads(host.check_output("docker inspect -f '{{json .State.Health}}' %s", name))
        if not health or health["Status"] == "healthy" or time.monotonic() > deadline:
            return health
        time.sleep(pause)


def inventory_folder():
    """Molecule's inventory folder: the file it generates from the platforms,
    group_vars, host_vars, and what a scenario links there (the remote
    scenarios link the test bed's hosts). Molecule runs its playbooks with the
    folder, so every file in it counts."""
    return os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture(scope="module")
def inventory():
    return inventory_folder()


def converge_playbook():
    """The converge playbook Molecule ran for this scenario, as an absolute path.

    Read from the merged config Molecule wrote (``MOLECULE_FILE``: ansible.playbooks.converge,
    .config/molecule/config.yml unless the scenario sets its own) and resolved, as Molecule
    does, from the scenario's folder.
    """
    with open(os.environ["MOLECULE_FILE"], encoding="utf-8") as stream:
        playbook = yaml.safe_load(stream)["ansible"]["playbooks"]["converge"]
    return os.path.abspath(os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], playbook))


def converge(extra_vars, tmp_path, *options):
    """Run the scenario's converge playbook with its inventory; ``extra_vars`` go through a 0600 file.

    ``options`` are more ansible-playbook arguments (``--check``, ``--diff``).

    Returns ansible-playbook's output; fails with its tail when the run fails.
    """
    extra = tmp_path / "extra-vars.yml"
    extra.touch(mode=0o600)
    extra.write_text(yaml.safe_dump(extra_vars))
    run = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            inventory_folder(),
            converge_playbook(),
            "-e",
            f"@{extra}",
            *options,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return run.stdout


def recaps(output):
    """The PLAY RECAP counters of every host as {host: {"ok": 30, "changed": 0, ...}}."""
    lines = output.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("PLAY RECAP"))) + 1
    counters = {}
    for line in lines[start:]:
        if ":" not in line or "=" not in line:
            break
        host, items = line.split(":", 1)
        counters[host.strip()] = {key: int(value) for key, value in (item.split("=") for item in items.split())}
    return counters


def recap(output):
    """The PLAY RECAP counters of the target (the first host) as a dict: {"ok": 30, "changed": 0, ...}."""
    return next(iter(recaps(output).values()))


def task_status(output, task_name):
    """The status word (ok, changed, skipping, failed) printed for the task named ``task_name``."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("TASK [") and f": {task_name}]" in line:
            return next(line for line in lines[index + 1 :] if line.strip()).split(":", 1)[0]
    raise AssertionError(f"task {task_name!r} not in the output")


def task_result(output, task_name):
    """What the task named ``task_name`` printed after ``<status>: [host] =>``, parsed.

    The base's callback prints results as YAML (callback_result_format), so a
    debug task gives ``{"msg": ...}``. Fails when the task printed no result.
    """
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("TASK [") and f": {task_name}]" in line:
            body = iter(lines[index + 1 :])
            head = next(line for line in body if line.strip())
            assert head.rstrip().endswith("=>"), f"task {task_name!r} printed no result: {head}"
            block = []
            for line in body:
                if not line.strip() or line.startswith(("TASK [", "PLAY ", "RUNNING HANDLER [")):
                    break
                block.append(line)
            return yaml.safe_load(textwrap.dedent("\n".join(block)))
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


def make_own_certificate(host, folder, name):
    """A CA and a server certificate for ``name`` made with openssl, as a sysadmin brings them.

    Writes ca.crt, server.crt (DNS or IP SAN) and server.key into ``folder``;
    returns their paths as a dict with the role's variable names.
    """
    san = f"IP:{name}" if name.replace(".", "").isdigit() or ":" in name else f"DNS:{name}"
    host.run_expect([0], "mkdir -p -m 0700 %s", folder)
    for command in (
        "openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=own-test-CA"
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign"
        " -keyout {d}/ca.key -out {d}/ca.crt",
        "openssl req -newkey rsa:2048 -nodes -subj /CN={n} -keyout {d}/server.key -out {d}/server.csr",
        "printf 'subjectAltName={s}\\nextendedKeyUsage=serverAuth\\n' > {d}/server.ext",
        "openssl x509 -req -days 30 -in {d}/server.csr -CA {d}/ca.crt -CAkey {d}/ca.key -CAcreateserial"
        " -extfile {d}/server.ext -out {d}/server.crt",
    ):
        host.run_expect([0], command.format(d=folder, n=name, s=san))
    return {
        "registry_tls_certificate": f"{folder}/server.crt",
        "registry_tls_private_key": f"{folder}/server.key",
        "registry_tls_ca_certificate": f"{folder}/ca.crt",
    }


def served_certificate_sha256(host, name, port):
    """SHA-256 fingerprint (openssl's ``AB:CD:..`` form) of the certificate served on ``name:port``."""
    out = host.run(
        "echo | openssl s_client -connect %s -servername %s 2>/dev/null | openssl x509 -noout -fingerprint -sha256",
        f"{name}:{port}",
        name,
    )
    assert out.rc == 0, out.stderr
    return out.stdout.strip().split("=", 1)[1]


def certificate_sha256(host, path):
    return host.check_output("openssl x509 -noout -fingerprint -sha256 -in %s", path).split("=", 1)[1]
