"""Shared fixtures for functional tests: real ansible runs on localhost."""

import json
import os
import socket
import subprocess
from collections import namedtuple

import pytest
from site_deployment import SharedSites

AnsibleRun = namedtuple("AnsibleRun", ["rc", "result", "stdout", "stderr"])
PlaybookRun = namedtuple("PlaybookRun", ["rc", "tasks", "stdout", "stderr"])


def ansible_env(**extra):
    """The environment of an ansible run: the checkout as privreg.registry, no colour."""
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
        }
    )
    env.update(extra)
    return env


def ansible_module_command(module, args, check=False, diff=False, extra_vars=None):
    """The `ansible localhost -m` command line that runs ``module`` with ``args`` (a dict, sent as JSON)."""
    command = ["ansible", "localhost", "-m", module, "-a", json.dumps(args)]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    for key, value in (extra_vars or {}).items():
        command += ["-e", "%s=%s" % (key, value)]
    return command


@pytest.fixture(scope="session")
def ansible_environment():
    """The environment for ansible commands a test builds itself (see ansible_env)."""
    return ansible_env()


@pytest.fixture
def ansible_module():
    """Run one module on localhost through real `ansible`; returns AnsibleRun.

    ``result`` is the module's result as the json callback reports it (None with
    ``callback="default"``, where ``stdout`` is what a sysadmin would see).
    """

    def run(module, args, check=False, diff=False, extra_vars=None, callback="json", timeout=120):
        env = ansible_env()
        if callback == "json":
            env.update(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
        command = ansible_module_command(module, args, check=check, diff=diff, extra_vars=extra_vars)
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        result = None
        if callback == "json":
            report = json.loads(done.stdout)
            result = report["plays"][0]["tasks"][0]["hosts"]["localhost"]
        return AnsibleRun(done.returncode, result, done.stdout, done.stderr)

    return run


@pytest.fixture
def ansible_playbook(tmp_path):
    """Run plays (Python data, written as JSON, which is YAML) through real `ansible-playbook`.

    ``tasks`` maps each task name to localhost's result as the json callback reports it;
    a looped task's result holds one entry per item under ``results``.
    """

    def run(plays, extra_args=(), timeout=300):
        playbook = tmp_path / "playbook.yml"
        playbook.write_text(json.dumps(plays, indent=1))
        env = ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
        # implicit localhost: local connection, and the Python that runs ansible-playbook
        command = ["ansible-playbook", str(playbook)] + list(extra_args)
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        report = json.loads(done.stdout)
        tasks = {
            task["task"]["name"]: task["hosts"].get("localhost") for play in report["plays"] for task in play["tasks"]
        }
        return PlaybookRun(done.returncode, tasks, done.stdout, done.stderr)

    return run


@pytest.fixture
def free_port():
    """A TCP port on 127.0.0.1 that nothing listened on when the test started."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def shared_sites(tmp_path_factory, ansible_environment):
    """The session's shared default deployments (site_deployment.SharedSites): get(topology) deploys one
    on first use; all are removed at the end of the session."""
    sites = SharedSites(tmp_path_factory, ansible_environment)
    yield sites
    sites.remove()
