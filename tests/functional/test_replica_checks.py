"""Replicas on one S3 storage are checked against each other before any host
changes: site.yml on two inventory hosts (both this machine, by a local
connection) that share a bucket. Nothing is deployed: a refused play stops in
preflight, an accepted one runs in check mode, which ends on a new host before
anything would be created."""

import json
import os
import secrets
import subprocess
import sys

import pytest
from local_engine import NGINX_IMAGE, REGISTRY_IMAGE, needs_engine_and_images, unused_port
from site_deployment import SITE

pytestmark = needs_engine_and_images


def replicas_inventory(workdir, **per_host):
    """Two replicas sharing one bucket; ``per_host`` maps a host name to its own variables."""
    shared = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "registry_host": "registry.example",
        "registry_port": unused_port(),
        "registry_bind_address": "127.0.0.1",
        "registry_image": REGISTRY_IMAGE,
        "registry_nginx_image": NGINX_IMAGE,
        "registry_storage": "s3",
        "registry_s3_endpoint": "http://s3.example:9000",
        "registry_s3_bucket": "registry",
        "registry_s3_access_key": "AKIAREPLICA",
        "registry_s3_secret_key": "replica-secret-key-%s" % secrets.token_hex(8),
        "registry_http_secret": "http-secret-%s" % secrets.token_hex(8),
        "registry_users": [{"name": "alice", "password": "pw-%s" % secrets.token_hex(8)}],
    }
    hosts = {}
    for name in ("replica-a", "replica-b"):
        hosts[name] = {
            **shared,
            "registry_base_dir": os.path.join(workdir, name),
            "registry_container_name": "privreg-test-%s-registry" % name,
            "registry_nginx_container_name": "privreg-test-%s-nginx" % name,
            "registry_nginx_health_port": unused_port(),
            **per_host.get(name, {}),
        }
    path = os.path.join(workdir, "inventory.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        json.dump({"registry": {"hosts": hosts}}, stream)
    return path, hosts


def play(inventory, ansible_environment, *args):
    done = subprocess.run(
        ["ansible-playbook", "-i", inventory, SITE, *args],
        env=ansible_environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize(
    "differs, variable",
    [
        ({"registry_http_secret": "another-secret"}, "registry_http_secret"),
        ({"registry_http_secret": ""}, "set registry_http_secret explicitly"),
        ({"registry_s3_secret_key": "another-key"}, "registry_s3_secret_key"),
        ({"registry_host": "replica-b.example"}, "registry_host"),
    ],
    ids=["other secret", "generated secret", "other S3 key", "other name"],
)
def test_replicas_that_disagree_are_refused_before_either_changes(differs, variable, tmp_path, ansible_environment):
    inventory, hosts = replicas_inventory(str(tmp_path), **{"replica-b": differs})
    rc, output = play(inventory, ansible_environment)
    assert rc != 0, output[-3000:]
    for name in hosts:
        assert "fatal: [%s]" % name in output, output[-4000:]
    assert "replica-a, replica-b share bucket 'registry' at http://s3.example:9000" in output
    assert variable in output and "Nothing was changed" in output, output[-4000:]
    for value in (hosts["replica-a"]["registry_http_secret"], hosts["replica-a"]["registry_s3_secret_key"]):
        assert value not in output
    assert not any(os.path.exists(host["registry_base_dir"]) for host in hosts.values())


def test_replicas_that_agree_pass_the_check(tmp_path, ansible_environment):
    inventory, hosts = replicas_inventory(str(tmp_path))
    rc, output = play(inventory, ansible_environment, "--check")
    assert rc == 0, output[-4000:]
    assert "Replicas on one storage agree on what they share" in output
    assert not any(os.path.exists(host["registry_base_dir"]) for host in hosts.values())


def test_hosts_of_both_topologies_in_one_play_are_checked_in_turn(tmp_path, ansible_environment):
    """site.yml includes one role per topology: the hosts of the role that runs first check themselves
    before the others' settings are known (unknown hosts are left out, not an error), the later ones
    against all of them. Which role runs first is the order in which the hosts' include results come
    back, not the inventory's: either host may be the one refused."""
    inventory, hosts = replicas_inventory(str(tmp_path), **{"replica-b": {"registry_topology": "native"}})
    rc, output = play(inventory, ansible_environment, "--check")
    assert rc == 0, output[-4000:]
    inventory, hosts = replicas_inventory(
        str(tmp_path), **{"replica-b": {"registry_topology": "native", "registry_http_secret": "another-secret"}}
    )
    rc, output = play(inventory, ansible_environment, "--check")
    refused = [name for name in hosts if "fatal: [%s]" % name in output]
    assert rc != 0 and len(refused) == 1, output[-4000:]
    assert "differ in registry_http_secret (replica-a / replica-b)" in output
    assert not any(os.path.exists(host["registry_base_dir"]) for host in hosts.values())
